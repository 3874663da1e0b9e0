"""What one Speak request measured, and the summary the client gets from it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from avatar.gateway.v1 import gateway_pb2


@dataclass(slots=True)
class SpeakMeasurements:
    """The measurements of one Speak request.

    Only the request's pipeline and its stages write them; the servicer reads the
    :meth:`summary` and the A/V offsets once the media has ended.

    Attributes:
        started_at: When the request started (``time.perf_counter``).
        first_audio_at: When the first audio chunk was forwarded to the client.
        first_frame_at: When the first frame was handed to the client.
        stage_seconds: Busy seconds per stage name (``llm``, ``tts``, ``animator``,
            ``enhancer``, ``mux``), in the order the stages first reported.
        sample_rate: Samples per second of the output audio (0 until the first
            sentence starts).
        samples: Length of the output timeline in samples, silence padding included.
        frames: Frames handed to the client.
        sentences: Sentences spoken to the end.
        spoken_text: The text of each spoken sentence.
        av_offsets: Per sentence, where its audio ends minus where its video ends, in
            seconds, as sent (filled in when the media has ended).
    """

    started_at: float = field(default_factory=time.perf_counter)
    first_audio_at: float | None = None
    first_frame_at: float | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    sample_rate: int = 0
    samples: int = 0
    frames: int = 0
    sentences: int = 0
    spoken_text: list[str] = field(default_factory=list)
    av_offsets: list[float] = field(default_factory=list)

    def add_stage_seconds(self, stage: str, seconds: float) -> None:
        """Adds busy time to a stage."""
        self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + seconds

    def summary(self) -> gateway_pb2.SpeakSummary:
        """The request's summary, with its total time up to now."""
        total = time.perf_counter() - self.started_at
        audio_seconds = self.samples / self.sample_rate if self.sample_rate else 0.0
        return gateway_pb2.SpeakSummary(
            time_to_first_audio_seconds=self._since_start(self.first_audio_at),
            time_to_first_frame_seconds=self._since_start(self.first_frame_at),
            total_seconds=total,
            audio_seconds=audio_seconds,
            real_time_factor=total / audio_seconds if audio_seconds else 0.0,
            frames=self.frames,
            sentences=self.sentences,
            stages=[
                gateway_pb2.StageTiming(stage=stage, seconds=seconds)
                for stage, seconds in self.stage_seconds.items()
            ],
            spoken_text=" ".join(self.spoken_text),
        )

    def _since_start(self, moment: float | None) -> float:
        return moment - self.started_at if moment is not None else 0.0
