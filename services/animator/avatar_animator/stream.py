"""One Animate stream, free of gRPC: speech in as it arrives, frame batches out.

An :class:`AnimateStream` wraps an :class:`~avatar_animator.engine.AnimationSession`
with what a streaming caller needs:

* the sample rate may come with the first audio chunk instead of up front, and phonemes
  sent before it wait for the session;
* every audio chunk states its sample offset: a gap before it (a sender that skips
  silence) is filled with silence, an overlap with earlier audio is refused, and so is
  an utterance beyond the length limit;
* rendering and encoding run in the worker pool, and each frame is encoded as soon as
  it is rendered (touched up first, when the stream asks for it); the stream's first
  frame is rendered alone and leaves at once (the first picture waits neither for a
  batch nor for the other frames its input allows), later frames wait until a whole
  batch is ready, and at the end the rest go as one shorter batch.

Bad input raises :class:`~avatar_animator.errors.AnimationInputError`, whose message
is meant for the caller.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from avatar_animator.engine import AnimationSession, MotionSettings, PreparedFace
from avatar_animator.errors import AnimationInputError
from avatar_animator.lipsync import LipSyncRenderer, LipSyncSession
from avatar_animator.metrics import AnimatorMetrics
from avatar_core.frames import FrameFormatError, pcm_to_samples
from avatar_core.timing import Phoneme
from avatar_core.touchup import RegionTouchup

FrameT = TypeVar("FrameT")
RunBlocking = Callable[..., Awaitable[Any]]
"""Runs ``function(*args)`` off the event loop, e.g. in the service's worker pool."""


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """What one stream renders, and how frames are grouped.

    Attributes:
        fps: Frames per second.
        batch_size: Frames per batch (the last batch may hold fewer).
        max_audio_seconds: Longest utterance accepted.
        start_frame: Global index of the first frame (idle motion continues from there).
        loop_frames: When positive, idle motion repeats every this many frames.
        motion: Idle motion and articulation settings.
    """

    fps: float
    batch_size: int
    max_audio_seconds: float
    start_frame: int = 0
    loop_frames: int = 0
    motion: MotionSettings = field(default_factory=MotionSettings)


@dataclass(frozen=True, slots=True)
class FrameBatch(Generic[FrameT]):
    """Encoded frames that leave the stream together.

    Attributes:
        sequence: Number of the batch in its stream, from 1.
        frames: The encoded frames, in order.
    """

    sequence: int
    frames: list[FrameT]


class AnimateStream(Generic[FrameT]):
    """State of one animation stream: the session, frames waiting for a batch, counters.

    Args:
        face: The prepared photo.
        settings: Frame rate, batching and motion of the stream.
        encode: Turns one rendered RGB frame and its index into the frame sent on;
            runs in the pool right after rendering.
        run_blocking: Runs rendering off the event loop (a thread by default).
        metrics: Where rendered frames and their times are recorded, if anywhere.
        lipsync: A lip-sync model that draws the mouth; None keeps the default renderer's.
        touchup: The touch-up of each frame's moving regions before it is encoded (high
            quality from a still the enhancer enhanced with OpenCV, when a lip-sync
            model draws the mouth); None: none.

    Attributes:
        batches_sent: Batches taken with :meth:`batches` so far.
        frames_sent: Frames in those batches.
    """

    def __init__(
        self,
        face: PreparedFace,
        settings: StreamSettings,
        encode: Callable[[np.ndarray, int], FrameT],
        run_blocking: RunBlocking = asyncio.to_thread,
        metrics: AnimatorMetrics | None = None,
        lipsync: LipSyncRenderer | None = None,
        touchup: RegionTouchup | None = None,
    ) -> None:
        if settings.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {settings.batch_size}")
        self._face = face
        self._settings = settings
        self._encode = encode
        self._run_blocking = run_blocking
        self._metrics = metrics
        self._lipsync = lipsync
        self._touchup = touchup
        self._session: AnimationSession | LipSyncSession | None = None
        self._early_phonemes: list[Phoneme] = []
        self._pending: list[FrameT] = []
        self._rest_due = False
        self.batches_sent = 0
        self.frames_sent = 0

    @property
    def started(self) -> bool:
        """Whether the sample rate is known and the session exists."""
        return self._session is not None

    @property
    def used_timings(self) -> bool:
        """Whether phoneme timings drove the mouth (rather than the audio alone)."""
        if self._session is None:
            return bool(self._early_phonemes)
        return self._session.used_timings

    def start(self, sample_rate: int) -> None:
        """Creates the animation session once the sample rate is known.

        Raises:
            AnimationInputError: A setting or the sample rate is out of range.
        """
        settings = self._settings
        arguments = dict(
            fps=settings.fps,
            sample_rate=sample_rate,
            start_frame=settings.start_frame,
            loop_frames=settings.loop_frames,
            motion=settings.motion,
        )
        if self._lipsync is None:
            self._session = AnimationSession(self._face, **arguments)
        else:
            self._session = self._lipsync.session(self._face, metrics=self._metrics, **arguments)
        if self._early_phonemes:
            self._session.push_phonemes(self._early_phonemes)

    async def add_audio(self, pcm: bytes, sample_offset: int, sample_rate: int = 0) -> None:
        """Adds s16le PCM that starts at ``sample_offset``, then renders what it allows.

        Args:
            pcm: Mono s16le samples.
            sample_offset: Position of the first sample in the utterance; a gap after
                the audio so far is filled with silence.
            sample_rate: The audio's rate; 0 when the stream already knows it.

        Raises:
            AnimationInputError: The rate is unknown or changes, the bytes are not
                whole samples, the chunk overlaps earlier audio, or the utterance grows
                beyond the limit.
        """
        if self._session is None:
            if not sample_rate:
                raise AnimationInputError(
                    "sample_rate is unknown: set it in the config or the audio chunk"
                )
            self.start(sample_rate)
        session = self._session
        if sample_rate and sample_rate != session.sample_rate:
            raise AnimationInputError(
                f"audio chunk at {sample_rate} Hz in a {session.sample_rate} Hz stream"
            )
        try:
            samples = pcm_to_samples(pcm)
        except FrameFormatError as error:
            raise AnimationInputError(str(error)) from error
        gap = self._gap_before(session, sample_offset, len(samples))

        def push_and_render() -> list[FrameT]:
            if gap:
                session.push_audio(np.zeros(gap, dtype=np.int16))
            session.push_audio(samples)
            return self._render(self._ready)

        self._pending.extend(await self._run_blocking(push_and_render))

    async def add_phonemes(self, phonemes: Iterable[Phoneme]) -> None:
        """Adds timed phonemes; from now on they drive the mouth.

        Raises:
            AnimationInputError: A phoneme's times are unusable.
        """
        phonemes = list(phonemes)
        if self._session is None:
            self._early_phonemes.extend(phonemes)
            return
        self._session.push_phonemes(phonemes)
        self._pending.extend(await self._run_blocking(self._render, self._ready))

    @property
    def rest_due(self) -> bool:
        """Whether frames the input allows wait behind the stream's first, which was
        rendered alone: call :meth:`render_rest` once it has been sent."""
        return self._rest_due

    async def render_rest(self) -> None:
        """Renders what the input so far allows after the stream's first frame."""
        self._rest_due = False
        if self._session is not None:
            self._pending.extend(await self._run_blocking(self._render, self._session.render_ready))

    def _ready(self) -> list[np.ndarray]:
        """What the input allows; only the stream's first frame while none was rendered,
        so that it leaves before the rest of this input's frames are made."""
        session = self._session
        assert session is not None
        if session.frames_rendered:
            return session.render_ready()
        frames = session.render_ready(1)
        self._rest_due = bool(frames)
        return frames

    async def finish(self) -> None:
        """Ends the input and renders the frames left."""
        if self._session is not None:
            self._pending.extend(await self._run_blocking(self._render, self._session.finish))

    def batches(self, *, flush: bool = False) -> Iterator[FrameBatch[FrameT]]:
        """Takes the waiting frames: the first frame alone, then whole batches; with ``flush``
        the rest as well."""
        while self._pending:
            # The first frame goes alone: the caller's first picture waits for no batch.
            size = self._settings.batch_size if self.batches_sent else 1
            if len(self._pending) < size and not flush:
                return
            frames, self._pending = self._pending[:size], self._pending[size:]
            self.batches_sent += 1
            self.frames_sent += len(frames)
            yield FrameBatch(self.batches_sent, frames)

    def _gap_before(self, session: AnimationSession, sample_offset: int, samples: int) -> int:
        """Silent samples between the audio so far and a chunk at ``sample_offset``."""
        received = round(session.audio_seconds * session.sample_rate)
        if sample_offset < received:
            raise AnimationInputError(
                f"audio chunk at sample {sample_offset} overlaps earlier audio "
                f"(expected {received})"
            )
        limit = self._settings.max_audio_seconds
        if (sample_offset + samples) / session.sample_rate > limit:
            raise AnimationInputError(f"utterance longer than the {limit:g} s limit")
        return sample_offset - received

    def _render(self, produce: Callable[[], list[np.ndarray]]) -> list[FrameT]:
        """Renders with ``produce``, touches the frames up when asked and encodes them (in
        the pool), timing each step."""
        session = self._session
        started = time.perf_counter()
        frames = produce()
        rendered = time.perf_counter()
        if self._touchup is not None:
            # The rendered frames are this call's own: touched up in place.
            frames = [self._touchup.apply(frame) for frame in frames]
        touched = time.perf_counter()
        first = session.frames_rendered - len(frames)
        encoded = [self._encode(frame, first + offset) for offset, frame in enumerate(frames)]
        if frames and self._metrics is not None:
            driver = "timings" if session.used_timings else "audio"
            self._metrics.record_frames(
                driver, len(frames), rendered - started, time.perf_counter() - touched
            )
            if self._touchup is not None:
                self._metrics.record_touchup(len(frames), touched - rendered)
        return encoded
