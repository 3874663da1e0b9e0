"""Streaming resampling of int16 audio with soxr, for clients that ask for another rate."""

from __future__ import annotations

import numpy as np


class Resampler:
    """Resamples a stream chunk by chunk, keeping filter state between chunks.

    With equal rates it passes audio through untouched.

    Args:
        input_rate: Sample rate of the engine's audio.
        output_rate: Sample rate the client asked for.
    """

    def __init__(self, input_rate: int, output_rate: int) -> None:
        self._passthrough = input_rate == output_rate
        self._stream = None
        if not self._passthrough:
            import soxr

            self._stream = soxr.ResampleStream(
                input_rate, output_rate, 1, dtype="int16", quality="HQ"
            )

    def process(self, samples: np.ndarray) -> np.ndarray:
        """Returns the resampled audio available after ``samples`` (may be shorter or empty)."""
        if self._stream is None:
            output = samples
        else:
            output = self._stream.resample_chunk(np.ascontiguousarray(samples, dtype=np.int16))
        return np.asarray(output, dtype=np.int16)

    def flush(self) -> np.ndarray:
        """Returns the audio still held in the filter at the end of the stream."""
        if self._stream is None:
            return np.zeros(0, dtype=np.int16)
        tail = self._stream.resample_chunk(np.zeros(0, dtype=np.int16), last=True)
        return np.asarray(tail, dtype=np.int16)
