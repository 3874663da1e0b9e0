"""The tts service's Prometheus metrics, on the server's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from avatar_core.metrics import LATENCY_BUCKETS, ServiceMetrics


class TtsMetrics:
    """Audio synthesised, time to the first chunk and real-time factor, per voice.

    Args:
        registry: The server's metrics registry.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        # Model load times, the worker pool's queue and the coqui model cache.
        self.service = ServiceMetrics(registry)
        self.audio_seconds = Counter(
            "avatar_tts_audio_seconds",
            "Seconds of audio synthesised.",
            ["voice"],
            registry=registry,
        )
        self.first_chunk_seconds = Histogram(
            "avatar_tts_time_to_first_chunk_seconds",
            "Time from request to the first audio chunk.",
            ["voice"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.real_time_factor = Histogram(
            "avatar_tts_real_time_factor",
            "Synthesis time divided by audio duration.",
            ["voice"],
            buckets=(0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0),
            registry=registry,
        )
