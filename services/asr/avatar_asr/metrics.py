"""The asr service's Prometheus metrics, on the server's registry.

Every series exists from the start (no labels, or labels created at zero), so a
dashboard shows zero rather than "no data" before the first stream.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from avatar_core.metrics import LATENCY_BUCKETS, ServiceMetrics

VAD_EVENTS = ("speech_started", "speech_ended")
END_REASONS = ("silence", "max_length", "end_of_input")


class AsrMetrics:
    """Utterances, audio, transcription time, end of speech to final, voice activity.

    Args:
        registry: The server's metrics registry.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        # Model load times and the transcription pool's queue.
        self.service = ServiceMetrics(registry)
        self.streams_in_flight = Gauge(
            "avatar_asr_streams_in_flight", "Transcribe streams open.", registry=registry
        )
        self.audio_seconds = Counter(
            "avatar_asr_audio_seconds", "Seconds of audio received.", registry=registry
        )
        self.utterances = Counter(
            "avatar_asr_utterances",
            "Utterances transcribed, by why they ended.",
            ["reason"],
            registry=registry,
        )
        self.vad_events = Counter(
            "avatar_asr_vad_events",
            "Voice activity events sent (speech started, speech ended).",
            ["event"],
            registry=registry,
        )
        self.transcription_seconds = Histogram(
            "avatar_asr_transcription_seconds",
            "Time one transcription (final or partial) took.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.final_latency_seconds = Histogram(
            "avatar_asr_end_of_speech_to_final_seconds",
            "Time from the moment the end of speech was detected to its final transcript "
            "being sent.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.real_time_factor = Histogram(
            "avatar_asr_real_time_factor",
            "Transcription time divided by the utterance's duration.",
            buckets=(0.01, 0.03, 0.1, 0.3, 1.0, 3.0),
            registry=registry,
        )
        self.early_finals = Counter(
            "avatar_asr_early_finals",
            "Finals sent from a transcription made as the silence after the speech began, "
            "before it was long enough to end the utterance.",
            registry=registry,
        )
        for event in VAD_EVENTS:
            self.vad_events.labels(event)
        for reason in END_REASONS:
            self.utterances.labels(reason)
