"""A turn's speech between its pipeline and the session clock.

The pipeline makes a turn's sentences, audio and frames faster than real time, on the
turn's own timeline (frame ``j``, audio samples from 0); the session plays them one
tick at a time on its clock. :class:`SpeechBuffer` holds what was made and not yet
played: the pipeline puts events in (waiting once about :data:`BUFFER_SECONDS` of
media are ahead, so the pipeline's own backpressure holds beyond that), and each
speech tick takes exactly that tick's slot of audio and, apart (the audio goes
first), one frame, so audio and frames stay together however the slots are rounded.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from avatar.common.v1 import media_pb2
from avatar.gateway.v1 import gateway_pb2

BUFFER_SECONDS = 20.0
"""Media made ahead of playback before the pipeline is held back."""

# Audio bytes already played that are kept before the buffer is compacted.
_COMPACT_BYTES = 256 * 1024


class SampleRateMismatchError(Exception):
    """The pipeline's audio is not at the session's sample rate."""


class SpeechBuffer:
    """Speech made and not yet played, for one turn.

    Args:
        sample_rate: The session's sample rate; audio at another rate is refused.
        fps: Frames per second.
        limit_seconds: Media ahead of playback at which :meth:`put` waits.
        on_media: Called after each frame batch or audio chunk is added.
    """

    def __init__(
        self,
        sample_rate: int,
        fps: float,
        limit_seconds: float = BUFFER_SECONDS,
        on_media: Callable[[], None] = lambda: None,
    ) -> None:
        self.sample_rate = sample_rate
        self.fps = fps
        self.limit_seconds = limit_seconds
        self.on_media = on_media
        self.produced_samples = 0
        self.produced_frames = 0
        self.played_samples = 0
        self.finished = False
        self._frames: deque[media_pb2.Frame] = deque()
        self._audio = bytearray()
        self._read = 0  # bytes of _audio already played
        self._sentences: deque[tuple[int, gateway_pb2.Sentence]] = deque()
        self._space = asyncio.Event()
        self._dropping = 0  # frames to discard as they come (their time has passed)

    @property
    def frames_ahead(self) -> int:
        """Frames made and not yet played."""
        return len(self._frames)

    @property
    def samples_ahead(self) -> int:
        """Audio samples made and not yet played."""
        return (len(self._audio) - self._read) // 2

    @property
    def exhausted(self) -> bool:
        """Whether the speech has ended and every frame of it was played."""
        return self.finished and not self._frames

    def has_started(self) -> bool:
        """Whether any media arrived."""
        return self.produced_frames > 0 or self.produced_samples > 0

    async def put(self, event: gateway_pb2.SpeakResponse) -> None:
        """Adds one pipeline event; waits while the buffer holds enough.

        Raises:
            SampleRateMismatchError: Its audio is not at the session's rate.
        """
        kind = event.WhichOneof("event")
        if kind == "frames":
            frames = list(event.frames.frames)
            dropped = min(self._dropping, len(frames))
            self._dropping -= dropped
            self._frames.extend(frames[dropped:])
            self.produced_frames += len(frames)
        elif kind == "audio":
            self._add_audio(event.audio)
        elif kind == "sentence":
            start = round(event.sentence.start_seconds * self.sample_rate)
            self._sentences.append((start, event.sentence))
        if kind in ("frames", "audio"):
            self.on_media()
        while self._full():
            self._space.clear()
            await self._space.wait()

    def finish(self) -> None:
        """Notes that the pipeline has made all of the speech."""
        self.finished = True

    def audio_ready(self, samples: int) -> bool:
        """Whether a tick's ``samples`` of audio are in hand (its frame may not be yet)."""
        return self.samples_ahead >= samples or (self.finished and self.samples_ahead > 0)

    @property
    def has_frame(self) -> bool:
        """Whether a frame is in hand."""
        return bool(self._frames)

    def take_frame(self) -> media_pb2.Frame:
        """Takes the next frame alone (call only when :attr:`has_frame`)."""
        return self._frames.popleft()

    def drop_frame(self) -> None:
        """Discards the next frame, now or when it comes: its time has passed."""
        if self._frames:
            self._frames.popleft()
        else:
            self._dropping += 1

    def take_audio(self, samples: int) -> tuple[bytes, list[tuple[int, gateway_pb2.Sentence]]]:
        """Takes ``samples`` of audio (silence past the end) and the sentences that begin
        in them, each with the sample where it begins."""
        available = min(samples, self.samples_ahead)
        end = self._read + 2 * available
        pcm = bytes(self._audio[self._read : end])
        if available < samples:
            pcm += bytes(2 * (samples - available))
        self._read = end
        if self._read >= _COMPACT_BYTES:
            del self._audio[: self._read]
            self._read = 0
        position = self.played_samples
        self.played_samples += available
        due = []
        while self._sentences and self._sentences[0][0] < position + samples:
            start, sentence = self._sentences.popleft()
            due.append((max(0, start - position), sentence))
        self._space.set()
        return pcm, due

    def _add_audio(self, chunk: media_pb2.AudioChunk) -> None:
        if chunk.sample_rate != self.sample_rate:
            raise SampleRateMismatchError(
                f"the voice spoke at {chunk.sample_rate} Hz; the session runs at "
                f"{self.sample_rate} Hz"
            )
        self._audio += chunk.pcm
        self.produced_samples += len(chunk.pcm) // 2

    def _full(self) -> bool:
        return (
            self.frames_ahead / self.fps > self.limit_seconds
            and self.samples_ahead / self.sample_rate > self.limit_seconds
        )
