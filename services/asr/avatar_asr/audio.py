"""Audio in: PCM to float samples, and a streaming resampler to the models' 16 kHz.

The resampler is a polyphase FIR (the Kaiser-windowed low-pass scipy's ``resample_poly``
designs), run on chunks as they arrive: it keeps the input it still needs between calls,
so a stream resampled in pieces equals the whole stream resampled at once.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import firwin

MODEL_RATE = 16_000
"""The rate Silero VAD (16 kHz variant) and Whisper read."""
MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 96_000


class AudioFormatError(ValueError):
    """The audio is not s16le PCM at a usable rate; the message says what is wrong."""


def check_sample_rate(sample_rate: int) -> None:
    """Raises :class:`AudioFormatError` unless ``sample_rate`` is one the service takes."""
    if not sample_rate:
        raise AudioFormatError("sample_rate is required: the rate of the PCM that follows")
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioFormatError(
            f"sample_rate must be {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz, got {sample_rate}"
        )


def pcm_to_float(pcm: bytes) -> np.ndarray:
    """s16le mono PCM as float32 samples in [-1, 1).

    Raises:
        AudioFormatError: The byte count is odd (not whole 16-bit samples).
    """
    if len(pcm) % 2:
        raise AudioFormatError(
            f"audio chunk of {len(pcm)} bytes: an odd number of bytes is not s16le PCM"
        )
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


class StreamResampler:
    """Resamples a stream to :data:`MODEL_RATE` chunk by chunk.

    Args:
        input_rate: The stream's rate.
        output_rate: The rate wanted.
    """

    def __init__(self, input_rate: int, output_rate: int = MODEL_RATE) -> None:
        divisor = math.gcd(input_rate, output_rate)
        self.up, self.down = output_rate // divisor, input_rate // divisor
        self._passthrough = self.up == self.down == 1
        half = 10 * max(self.up, self.down)
        taps = (
            np.ones(1)
            if self._passthrough
            else firwin(2 * half + 1, 1.0 / max(self.up, self.down), window=("kaiser", 5.0))
        )
        self._delay = half  # of the centred filter, in upsampled samples
        per_phase = math.ceil(len(taps) / self.up)
        padded = np.zeros(per_phase * self.up)
        padded[: len(taps)] = taps * self.up
        # phases[p, t] = taps[p + t * up]: the taps that meet input sample i - t.
        self._phases = padded.reshape(per_phase, self.up).T.astype(np.float32)
        self._buffer = np.zeros(0, dtype=np.float32)
        self._buffer_start = 0  # stream index of self._buffer[0]
        self._received = 0
        self._produced = 0

    def process(self, samples: np.ndarray) -> np.ndarray:
        """Adds input samples; returns the output samples they complete."""
        if self._passthrough:
            return samples.astype(np.float32, copy=False)
        self._received += len(samples)
        self._buffer = np.concatenate([self._buffer, samples.astype(np.float32, copy=False)])
        # Output n needs input up to (n * down + delay) // up.
        last = (self._received - 1) * self.up - self._delay
        return self._produce(0 if last < 0 else last // self.down + 1)

    def flush(self) -> np.ndarray:
        """The outputs still owed at the end of the stream (its last samples' tail)."""
        if self._passthrough:
            return np.zeros(0, dtype=np.float32)
        # What lies past the end of the stream reads as silence.
        total = math.ceil(self._received * self.up / self.down)
        return self._produce(total)

    def _produce(self, count: int) -> np.ndarray:
        """Outputs ``self._produced`` up to ``count`` (exclusive), from the buffered input."""
        outputs = np.arange(self._produced, count)
        if not len(outputs):
            return np.zeros(0, dtype=np.float32)
        positions = outputs * self.down + self._delay
        inputs = positions // self.up - self._buffer_start
        window = inputs[:, None] - np.arange(self._phases.shape[1])[None, :]
        inside = (window >= 0) & (window < len(self._buffer))
        gathered = np.where(inside, self._buffer[np.clip(window, 0, len(self._buffer) - 1)], 0.0)
        result = np.einsum("nt,nt->n", gathered, self._phases[positions % self.up])
        self._produced = count
        # Keep only the input that later outputs still reach back to.
        needed = (count * self.down + self._delay) // self.up - (self._phases.shape[1] - 1)
        drop = min(max(0, needed - self._buffer_start), len(self._buffer))
        self._buffer, self._buffer_start = self._buffer[drop:], self._buffer_start + drop
        return result.astype(np.float32)
