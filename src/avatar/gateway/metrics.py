"""The gateway's Prometheus metrics (DESIGN section 5), on the server's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from avatar.core.metrics import LATENCY_BUCKETS

STAGES = ("llm", "tts", "animate", "enhance", "mux")


class GatewayMetrics:
    """Latency, throughput and error metrics of Speak requests.

    Args:
        registry: The server's metrics registry.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        quality = ["quality"]
        self.time_to_first_audio = Histogram(
            "avatar_time_to_first_audio_seconds",
            "From a Speak request's arrival to its first audio chunk.",
            quality,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.time_to_first_frame = Histogram(
            "avatar_time_to_first_frame_seconds",
            "From a Speak request's arrival to its first frame.",
            quality,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.stage_seconds = Histogram(
            "avatar_stage_seconds",
            "Busy time of one pipeline stage in one Speak request.",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.real_time_factor = Histogram(
            "avatar_real_time_factor",
            "Processing time divided by audio duration, per Speak request.",
            quality,
            buckets=(0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0),
            registry=registry,
        )
        self.inter_chunk_gap = Histogram(
            "avatar_inter_chunk_gap_seconds",
            "Time between consecutive media messages sent to a client.",
            buckets=(0.001, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28),
            registry=registry,
        )
        self.frames = Counter("avatar_frames", "Frames sent to clients.", registry=registry)
        self.audio_seconds = Counter(
            "avatar_audio_seconds", "Seconds of audio sent to clients.", registry=registry
        )
        self.errors = Counter(
            "avatar_errors",
            "Failed requests, by stage and status code.",
            ["stage", "code"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "avatar_speak_in_flight", "Speak requests being served.", registry=registry
        )
