"""The gateway's Prometheus metrics, on the server's registry."""

from __future__ import annotations

import bisect

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from avatar.common.v1 import media_pb2
from avatar_core.metrics import LATENCY_BUCKETS


class GatewayMetrics:
    """Latency, throughput and error metrics of Speak requests, live sessions and the
    conversation store.

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
        store_labels = ["operation", "store"]
        self.conversation_store_seconds = Histogram(
            "avatar_conversation_store_seconds",
            "Time of one conversation store operation (read, append, forget), by store kind.",
            store_labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.conversation_store_errors = Counter(
            "avatar_conversation_store_errors",
            "Conversation store operations that failed (store down or refusing), by store kind.",
            store_labels,
            registry=registry,
        )
        self.av_offset = Histogram(
            "avatar_av_offset_seconds",
            "How far apart the audio and the video of one spoken sentence end, as sent.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64),
            registry=registry,
        )

        self.converse_sessions = Gauge(
            "avatar_converse_sessions", "Live Converse sessions.", registry=registry
        )
        self.converse_sessions_refused = Counter(
            "avatar_converse_sessions_refused",
            "Converse sessions refused because the gateway had its maximum of live sessions.",
            registry=registry,
        )
        self.converse_turns = Counter(
            "avatar_converse_turns",
            "Turns of Converse sessions, by how they ended (done, interrupted, failed).",
            ["outcome"],
            registry=registry,
        )
        self.converse_drafts = Counter(
            "avatar_converse_drafts",
            "Drafts of Converse sessions synthesised while typed, by whether their turn "
            "used them (used, unused).",
            ["outcome"],
            registry=registry,
        )
        self.converse_time_to_first_audio = Histogram(
            "avatar_converse_time_to_first_audio_seconds",
            "From a Converse turn's arrival to its first audio of speech sent.",
            quality,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.converse_time_to_first_frame = Histogram(
            "avatar_converse_time_to_first_frame_seconds",
            "From a Converse turn's arrival to its first frame of speech sent.",
            quality,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.converse_barge_in = Histogram(
            "avatar_converse_barge_in_seconds",
            "From an interrupt (or a new turn) stopping a turn to the first idle frame sent.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.12, 0.16, 0.2, 0.3, 0.5),
            registry=registry,
        )
        speech_buckets = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)
        self.converse_end_of_speech_to_final = Histogram(
            "avatar_converse_end_of_speech_to_final_seconds",
            "From the arrival of the user's last sound of an utterance to its final transcript.",
            buckets=speech_buckets,
            registry=registry,
        )
        self.converse_end_of_speech_to_first_audio = Histogram(
            "avatar_converse_end_of_speech_to_first_audio_seconds",
            "From the arrival of the user's last sound of an utterance to the first audio of "
            "the answer sent.",
            buckets=speech_buckets,
            registry=registry,
        )
        self.converse_voice_barge_ins = Counter(
            "avatar_converse_voice_barge_ins",
            "Turns of live sessions stopped by the user's speech.",
            registry=registry,
        )
        self.converse_echo_ignored = Counter(
            "avatar_converse_speech_ignored_as_echo",
            "Utterances heard while the avatar spoke that were its own words coming back.",
            registry=registry,
        )
        self.idle_loop_renders = Counter(
            "avatar_converse_idle_loop_renders",
            "Idle loops rendered for live sessions (each is then shared from memory).",
            registry=registry,
        )


class AvSyncMeter:
    """Measures, from what one Speak stream sent, where each sentence's audio and video end.

    Positions come from the messages themselves: an audio chunk covers its sample offset
    plus its samples, a frame covers ``[index, index + 1) / fps``. Each piece counts for
    the sentence whose start precedes its middle. The pipeline pads every sentence's
    audio to whole frames, so the two ends should meet; their distance is the lip-sync
    drift a player would show at that sentence boundary.

    Args:
        fps: Frames per second of the stream.
    """

    def __init__(self, fps: float) -> None:
        self._fps = fps
        self._starts: list[float] = []
        self._audio_end: list[float] = []
        self._video_end: list[float] = []

    def sentence(self, start_seconds: float) -> None:
        """Notes that a sentence starts at ``start_seconds`` on the output timeline."""
        self._starts.append(start_seconds)
        self._audio_end.append(0.0)
        self._video_end.append(0.0)

    def audio(self, chunk: media_pb2.AudioChunk) -> None:
        """Notes an audio chunk sent to the client."""
        if not chunk.sample_rate:
            return
        start = chunk.sample_offset / chunk.sample_rate
        end = start + len(chunk.pcm) // 2 / chunk.sample_rate
        index = self._sentence_at((start + end) / 2)
        self._audio_end[index] = max(self._audio_end[index], end)

    def frames(self, batch: media_pb2.FrameBatch) -> None:
        """Notes a frame batch sent to the client."""
        for frame in batch.frames:
            index = self._sentence_at((frame.index + 0.5) / self._fps)
            self._video_end[index] = max(self._video_end[index], (frame.index + 1) / self._fps)

    def offsets(self) -> list[float]:
        """Audio end minus video end, in seconds, per sentence that sent any media."""
        return [
            audio - video
            for audio, video in zip(self._audio_end, self._video_end, strict=True)
            if audio or video
        ]

    def _sentence_at(self, seconds: float) -> int:
        if not self._starts:
            self.sentence(0.0)
        return max(0, bisect.bisect_right(self._starts, seconds) - 1)
