"""The session's audio to the Opus encoder's 48 kHz, a packet at a time, without delay.

aiortc's Opus encoder takes 20 ms frames at 48 kHz. Given audio at another rate it
resamples it itself, and a resampler's filter needs samples from after the ones it
makes: it holds the end of each packet back for the next, and the encoder, which waits
for whole 20 ms frames, sends each packet's sound a packet late (20 ms later to the
ear). :class:`PacketResampler` instead resamples each packet with the few samples after
it that the web front already holds (the gateway sends audio ahead of its time), so a
packet leaves with its own sound, and the encoder passes 48 kHz frames straight on.
"""

from __future__ import annotations

import math

import numpy as np

OUTPUT_RATE = 48_000
"""The Opus encoder's rate."""

HALF_TAPS = 16
"""Samples each side of an output sample that the filter reads, at the lower of the two
rates (16 at 24 kHz: 0.7 ms read ahead)."""

_CUTOFF = 0.9
"""The pass band, as a fraction of the lower rate's Nyquist frequency."""
_KAISER_BETA = 8.6


class PacketResampler:
    """Resamples consecutive packets of s16 mono from ``rate`` to 48 kHz.

    Each packet is resampled with the samples just before it (kept from the packet
    before) and the ``lookahead`` samples after it (the caller gives what it holds, or
    silence): a packet of ``n`` samples becomes ``round(n * 48000 / rate)``.

    Args:
        rate: Samples per second of the input.
    """

    def __init__(self, rate: int) -> None:
        if rate <= 0:
            raise ValueError(f"a sample rate must be positive, not {rate}")
        self._passthrough = rate == OUTPUT_RATE
        # Input samples per output sample, and the filter's reach in input samples.
        self._step = rate / OUTPUT_RATE
        self._scale = min(1.0, OUTPUT_RATE / rate)  # below 1: the input's band is cut down
        self.lookahead = 0 if self._passthrough else math.ceil(HALF_TAPS / self._scale)
        self._history = np.zeros(self.lookahead, dtype=np.float32)
        self._kernels: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def resample(self, pcm: bytes, after: bytes = b"") -> np.ndarray:
        """The packet ``pcm`` (s16le) at 48 kHz, int16; ``after`` is what follows it
        (up to :attr:`lookahead` samples are read, silence past its end)."""
        samples = np.frombuffer(pcm, dtype="<i2")
        if self._passthrough:
            return samples.astype(np.int16)
        ahead = np.zeros(self.lookahead, dtype=np.float32)
        following = np.frombuffer(after[: 2 * self.lookahead], dtype="<i2")
        ahead[: following.size] = following
        window = np.concatenate([self._history, samples.astype(np.float32), ahead])
        self._history = window[samples.size : samples.size + self.lookahead].copy()
        taps, weights = self._kernel(samples.size)
        out = np.einsum("ij,ij->i", window[taps], weights)
        return np.clip(np.rint(out), -32768, 32767).astype(np.int16)

    def _kernel(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """For a packet of ``count`` samples: the window positions each output sample
        reads, and their weights (windowed sinc, each row summing to one)."""
        cached = self._kernels.get(count)
        if cached is not None:
            return cached
        reach = self.lookahead
        times = np.arange(round(count / self._step)) * self._step  # in input samples
        first = np.floor(times).astype(np.int64) - reach + 1
        taps = first[:, None] + np.arange(2 * reach)[None, :]  # input sample indices
        distance = times[:, None] - taps
        shape = np.clip(distance / reach, -1.0, 1.0)
        window = np.i0(_KAISER_BETA * np.sqrt(1.0 - shape**2)) / np.i0(_KAISER_BETA)
        cutoff = _CUTOFF * self._scale
        weights = cutoff * np.sinc(cutoff * distance) * window
        weights /= weights.sum(axis=1, keepdims=True)
        cached = (taps + reach).astype(np.intp), weights.astype(np.float32)
        self._kernels[count] = cached
        return cached
