"""The speech features of Wav2Lip-family lip-sync models: mel windows, one per video frame.

The models were trained on the mel spectrogram of Wav2Lip's ``audio.py``, which this
module computes with its own numpy code (no librosa at run time): 16 kHz audio,
pre-emphasis 0.97, a Hann-windowed STFT (n_fft 800, hop 200, window 800, frames
centred on their hop with zero padding), 80 Slaney-normalised mel bands from 55 to
7600 Hz, amplitude in dB minus a reference level of 20 dB, and the symmetric
normalisation of -100..0 dB to [-4, 4]. That is 80 mel frames per second; each video
frame gets the 16 of them (0.2 s) centred on its time, as in Wav2Lip's training.

Audio of any rate is resampled to 16 kHz with a polyphase filter. The utterance is
taken as silent before its start and after its end, and a frame's window is computed
only from audio that has arrived (:meth:`MelWindows.ready`), so the features do not
depend on how the audio was split into chunks.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import resample_poly

SAMPLE_RATE = 16_000
"""Rate of the audio the mel spectrogram is computed from."""
N_FFT = 800
HOP = 200
N_MELS = 80
F_MIN = 55.0
F_MAX = 7600.0
PREEMPHASIS = 0.97
REF_LEVEL_DB = 20.0
MIN_LEVEL_DB = -100.0
MAX_ABS_VALUE = 4.0
MEL_FRAMES_PER_SECOND = SAMPLE_RATE / HOP
"""80 mel frames per second."""
WINDOW_FRAMES = 16
"""Mel frames per video frame's window (0.2 s)."""

# Filter half-length of scipy's resample_poly, in upsampled samples per max(up, down).
_RESAMPLE_HALF_LENGTH = 10


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3.0)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * (200.0 / 3.0)
    log_part = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, log_part, linear)


def mel_filterbank() -> np.ndarray:
    """The (80, 401) triangular mel filters, Slaney-normalised (each of equal area)."""
    frequencies = np.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(F_MIN), _hz_to_mel(F_MAX), N_MELS + 2))
    widths = np.diff(edges)
    ramps = edges[:, np.newaxis] - frequencies[np.newaxis, :]
    rising = -ramps[:-2] / widths[:-1, np.newaxis]
    falling = ramps[2:] / widths[1:, np.newaxis]
    filters = np.maximum(0.0, np.minimum(rising, falling))
    return filters * (2.0 / (edges[2:] - edges[:-2]))[:, np.newaxis]


_FILTERS = mel_filterbank()
# A periodic Hann window, as the STFT of the models' training used.
_WINDOW = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT)


def normalized_mel(signal: np.ndarray, first_frame: int, count: int, offset: int) -> np.ndarray:
    """Normalised mel frames ``first_frame .. first_frame + count - 1`` of a 16 kHz signal.

    Mel frame j covers samples ``200 j - 400 .. 200 j + 399``; samples outside
    ``signal`` are silence.

    Args:
        signal: 16 kHz samples in [-1, 1], float64; ``signal[0]`` is sample ``offset``.
        first_frame: The first mel frame (may be negative).
        count: How many.
        offset: Global index of ``signal[0]``.

    Returns:
        Array (80, count) float32 in [-4, 4].
    """
    start, stop = _samples_of(first_frame, first_frame + count)
    padded = _slice(signal, start - offset, stop - offset)
    emphasised = padded[1:] - PREEMPHASIS * padded[:-1]
    frames = np.lib.stride_tricks.sliding_window_view(emphasised, N_FFT)[::HOP]
    magnitude = np.abs(np.fft.rfft(frames * _WINDOW, axis=1))
    mel = _FILTERS @ magnitude.T
    decibels = 20.0 * np.log10(np.maximum(10.0 ** (MIN_LEVEL_DB / 20.0), mel)) - REF_LEVEL_DB
    scaled = 2.0 * MAX_ABS_VALUE * (decibels - MIN_LEVEL_DB) / -MIN_LEVEL_DB - MAX_ABS_VALUE
    return np.clip(scaled, -MAX_ABS_VALUE, MAX_ABS_VALUE).astype(np.float32)


def _samples_of(first_mel: int, stop_mel: int) -> tuple[int, int]:
    """16 kHz samples (start, stop) that mel frames first_mel..stop_mel-1 are computed from,
    with the one before, for the pre-emphasis."""
    return HOP * first_mel - N_FFT // 2 - 1, HOP * (stop_mel - 1) + N_FFT // 2


def _slice(signal: np.ndarray, start: int, stop: int) -> np.ndarray:
    """``signal[start:stop]`` with zeros where that range leaves the signal."""
    out = np.zeros(stop - start, dtype=np.float64)
    low, high = max(start, 0), min(stop, len(signal))
    if high > low:
        out[low - start : high - start] = signal[low:high]
    return out


class MelWindows:
    """The mel window of each video frame of one utterance, as its audio arrives.

    Args:
        sample_rate: Rate of the pushed audio.
        fps: Video frames per second.
    """

    def __init__(self, sample_rate: int, fps: float) -> None:
        self.sample_rate = int(sample_rate)
        self.fps = float(fps)
        divisor = math.gcd(SAMPLE_RATE, self.sample_rate)
        self._up, self._down = SAMPLE_RATE // divisor, self.sample_rate // divisor
        # Source samples on either side that a resampled sample depends on.
        half = _RESAMPLE_HALF_LENGTH * max(self._up, self._down)
        self._margin = 0 if self._up == self._down else math.ceil(half / self._up) + 2
        self._audio = np.zeros(0, dtype=np.float64)
        self._length = 0

    def push(self, samples: np.ndarray) -> None:
        """Appends mono int16 samples."""
        samples = np.asarray(samples, dtype=np.float64) / 32768.0
        needed = self._length + len(samples)
        if needed > len(self._audio):
            grown = np.zeros(max(needed, 2 * len(self._audio), 4096), dtype=np.float64)
            grown[: self._length] = self._audio[: self._length]
            self._audio = grown
        self._audio[self._length : needed] = samples
        self._length = needed

    def centre(self, frame: int) -> int:
        """The mel frame at video frame ``frame``'s time."""
        return math.floor(frame * MEL_FRAMES_PER_SECOND / self.fps + 0.5)

    def ready(self, frame: int) -> bool:
        """Whether the audio so far fixes video frame ``frame``'s window."""
        _, stop = self._source_range(frame, frame + 1)
        return stop <= self._length

    def windows(self, first: int, count: int) -> np.ndarray:
        """The windows of video frames ``first .. first + count - 1``.

        Audio not pushed yet counts as silence: ask for frames that are
        :meth:`ready`, or for any once the utterance has ended.

        Returns:
            Array (count, 1, 80, 16) float32 in [-4, 4].
        """
        first_mel, stop_mel = self._mel_span(first, first + count)
        signal, offset = self._resampled(*_samples_of(first_mel, stop_mel))
        mel = normalized_mel(signal, first_mel, stop_mel - first_mel, offset)
        starts = [
            self.centre(frame) - WINDOW_FRAMES // 2 - first_mel
            for frame in range(first, first + count)
        ]
        return np.stack([mel[:, s : s + WINDOW_FRAMES] for s in starts])[:, np.newaxis]

    def _mel_span(self, first: int, stop: int) -> tuple[int, int]:
        """Mel frames (first, stop) that the windows of video frames first..stop-1 take."""
        return (
            self.centre(first) - WINDOW_FRAMES // 2,
            self.centre(stop - 1) + WINDOW_FRAMES // 2,
        )

    def _source_range(self, first: int, stop: int) -> tuple[int, int]:
        """Source samples (start, stop) that the windows of video frames first..stop-1 use."""
        return self._to_source(*_samples_of(*self._mel_span(first, stop)))

    def _to_source(self, start16: int, stop16: int) -> tuple[int, int]:
        """Source samples (start, stop) that 16 kHz samples start16..stop16-1 depend on;
        ``start`` is a multiple of the resampling's ``down``, so the grids line up."""
        start = math.floor(start16 * self._down / self._up) - self._margin
        start -= start % self._down
        stop = math.ceil(stop16 * self._down / self._up) + self._margin + 1
        return start, stop

    def _resampled(self, start16: int, stop16: int) -> tuple[np.ndarray, int]:
        """16 kHz samples covering start16..stop16-1, and the global index of the first."""
        start, stop = self._to_source(start16, stop16)
        source = _slice(self._audio[: self._length], start, stop)
        if self._up == self._down:
            return source, start
        return resample_poly(source, self._up, self._down), start * self._up // self._down
