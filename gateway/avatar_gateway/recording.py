"""Encodes a Speak stream into one MP4 while it streams, off the event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from avatar.common.v1 import media_pb2
from avatar_core.frames import RGB24, decode_frame, pcm_to_samples
from avatar_gateway.mux import Mp4Writer


class StreamRecorder:
    """Feeds audio and frames to an :class:`Mp4Writer` in one worker thread, in order.

    Encoding overlaps the stream, so the finished file is ready moments after the
    last frame instead of a whole encode later.

    Args:
        sample_rate: Samples per second of the audio.
        fps: Frames per second of the video.
    """

    def __init__(self, sample_rate: int, fps: float) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="mux")
        self._writer = Mp4Writer(sample_rate, fps)
        self._last: asyncio.Future | None = None
        self._error: BaseException | None = None
        self.busy_seconds = 0.0

    def add_audio(self, chunk: media_pb2.AudioChunk) -> None:
        """Queues an audio chunk."""
        samples = pcm_to_samples(chunk.pcm).copy()
        self._submit(lambda: self._writer.add_audio(samples))

    def add_frames(self, batch: media_pb2.FrameBatch) -> None:
        """Queues a batch of frames."""
        frames = [decode_frame(f) if f.encoding == RGB24 else bytes(f.data) for f in batch.frames]

        def work() -> None:
            for frame in frames:
                self._writer.add_frame(frame)

        self._submit(work)

    async def finish(self) -> bytes:
        """Waits for the queued work and returns the MP4's bytes."""
        self._submit(lambda: None)
        await self._last
        if self._error is not None:
            raise self._error
        started = time.perf_counter()
        data = await asyncio.get_running_loop().run_in_executor(self._executor, self._writer.finish)
        self.busy_seconds += time.perf_counter() - started
        return data

    def close(self) -> None:
        """Drops unfinished work and the temporary file."""
        self._executor.submit(self._writer.close)
        self._executor.shutdown(wait=False)

    def _submit(self, work: Callable[[], None]) -> None:
        def guarded() -> None:
            if self._error is not None:
                return
            started = time.perf_counter()
            try:
                work()
            except Exception as error:  # surfaced by finish()
                self._error = error
            self.busy_seconds += time.perf_counter() - started

        self._last = asyncio.get_running_loop().run_in_executor(self._executor, guarded)
