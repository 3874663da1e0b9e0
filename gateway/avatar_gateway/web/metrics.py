"""The web front's Prometheus metrics, on its own ``/metrics`` port."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)


class WebMetrics:
    """Live sessions and the latencies a person notices, measured where media leaves us.

    Args:
        registry: The registry served on the metrics port.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.live_sessions = Gauge(
            "avatar_web_live_sessions", "Live WebRTC sessions.", registry=registry
        )
        self.sessions_refused = Counter(
            "avatar_web_sessions_refused",
            "Session offers refused, by reason (busy, unauthenticated, invalid, failed).",
            ["reason"],
            registry=registry,
        )
        self.offer_to_first_frame = Histogram(
            "avatar_web_offer_to_first_frame_seconds",
            "From the SDP offer's arrival to the first video frame handed to WebRTC.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.turn_to_first_audio = Histogram(
            "avatar_web_turn_to_first_audio_seconds",
            "From a turn's arrival to its first audio handed to WebRTC.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.turn_to_first_frame = Histogram(
            "avatar_web_turn_to_first_frame_seconds",
            "From a turn's arrival to its first speaking frame handed to WebRTC.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.barge_in = Histogram(
            "avatar_web_barge_in_seconds",
            "From an interrupt (or a new turn over speech) to the last speech audio sent.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.audio_underruns = Counter(
            "avatar_web_audio_underruns",
            "Audio packets that were late and left as silence (the content moved later), by "
            "what they broke into: a turn's speech (heard), or silence (idle, or after a "
            "turn's speech ended, where the gateway's audio comes less far ahead).",
            ["during"],
            registry=registry,
        )
        for during in ("speech", "silence"):
            self.audio_underruns.labels(during)
        self.catch_ups = Counter(
            "avatar_web_catch_ups",
            "Times idle moments were skipped to bring a session's delay back down.",
            registry=registry,
        )
        self.end_of_speech_to_first_audio = Histogram(
            "avatar_web_end_of_speech_to_first_audio_seconds",
            "From the end of the user's speech (as its audio arrived here) to the first audio "
            "of the answer handed to WebRTC.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.voice_barge_ins = Counter(
            "avatar_web_voice_barge_ins",
            "Times the user's speech stopped the avatar's answer.",
            registry=registry,
        )
        self.speech_errors = Counter(
            "avatar_web_speech_errors",
            "Speech input errors the gateway reported, by gRPC status code name.",
            ["code"],
            registry=registry,
        )
        self.turns = Counter(
            "avatar_web_turns", "Turns by outcome.", ["outcome"], registry=registry
        )
