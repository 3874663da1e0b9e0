"""What the animator hears: per-frame loudness and spectral brightness of the speech.

:class:`SoundMeter` measures each frame's time window of the audio: how loud it
is relative to the loudest part heard so far (so a quiet voice still moves the
mouth) and how much of its energy is high-frequency hiss (s, f, sh) rather than
voice. With no phoneme timings, :func:`audio_mouth` turns those measures into a
mouth shape; with timings, the loudness scales how far the visemes open the jaw.
Frames are measured in order; the measure of a frame needs the audio up to one
and a half frame periods past its time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from avatar_animator.visemes import MouthShape

# A frame's level is smoothed with its neighbours by these weights (offsets -1, 0, 1).
_SMOOTHING = (0.25, 0.5, 0.25)
# A frame this loud relative to the loudest so far counts as full amplitude.
_FULL_AMPLITUDE = 0.6
# Frequencies (Hz) between which the energy's mean frequency goes from voice to hiss.
_VOICED_HZ, _HISS_HZ = 1500.0, 4000.0


@dataclass(frozen=True, slots=True)
class FrameSound:
    """The sound of one frame.

    Attributes:
        loudness: 0-1, the smoothed level within 30 dB below the loudest frame so
            far (1 from 6 dB below it).
        amplitude: 0-1, the smoothed RMS relative to 60% of the loudest RMS so far.
        brightness: 0-1, how much the energy sits at high frequencies (1 for hiss).
        level_db: The smoothed level in dB below full scale.
    """

    loudness: float
    amplitude: float
    brightness: float
    level_db: float


class SoundMeter:
    """Measures the frames of one utterance, in order."""

    def __init__(self, sample_rate: int, fps: float) -> None:
        """Creates the meter for one sample rate and frame rate."""
        self._sample_rate = sample_rate
        self._fps = fps
        # Floors: near-silent audio must not open the mouth.
        self._peak_db = -24.0
        self._peak_rms = 0.02 * 32768.0

    def measure(self, samples: np.ndarray, frame_index: int) -> FrameSound:
        """Measures local frame ``frame_index`` given the utterance's samples so far."""
        windows = [self._window(samples, frame_index + offset) for offset in (-1, 0, 1)]
        rms = [_rms(window) for window in windows]
        levels = [20.0 * math.log10(value / 32768.0 + 1e-6) for value in rms]
        self._peak_db = max(self._peak_db, levels[1])
        self._peak_rms = max(self._peak_rms, rms[1])
        level = float(np.dot(_SMOOTHING, levels))
        amplitude = float(np.dot(_SMOOTHING, rms)) / (_FULL_AMPLITUDE * self._peak_rms)
        return FrameSound(
            loudness=min(1.0, max(0.0, (level - (self._peak_db - 30.0)) / 24.0)),
            amplitude=min(1.0, amplitude),
            brightness=self._brightness(windows[1], rms[1]),
            level_db=level,
        )

    def _window(self, samples: np.ndarray, frame_index: int) -> np.ndarray:
        """The samples of one frame period centred on the frame's time."""
        centre = frame_index * self._sample_rate / self._fps
        half = 0.5 * self._sample_rate / self._fps
        return samples[max(0, round(centre - half)) : max(0, round(centre + half))]

    def _brightness(self, window: np.ndarray, rms: float) -> float:
        """0 for voice, 1 for hiss, from the energy's mean frequency.

        For a tone of frequency f the RMS of the first difference is
        ``2 sin(pi f / rate)`` times the tone's RMS, so their ratio gives a mean
        frequency without a Fourier transform.
        """
        if window.size < 2 or rms < 1.0:
            return 0.0
        ratio = _rms(np.diff(window.astype(np.float64))) / rms
        frequency = self._sample_rate / math.pi * math.asin(min(1.0, ratio / 2.0))
        return min(1.0, max(0.0, (frequency - _VOICED_HZ) / (_HISS_HZ - _VOICED_HZ)))


def _rms(window: np.ndarray) -> float:
    """Root mean square of samples (0 for none)."""
    if window.size == 0:
        return 0.0
    values = window.astype(np.float64)
    return math.sqrt(float(values @ values) / values.size)


def audio_mouth(sound: FrameSound) -> MouthShape:
    """A mouth shape from the sound alone: louder opens wider; hiss (s, f, sh) keeps
    the teeth nearly together with the lips spread, voice opens the jaw."""
    voice = 1.0 - sound.brightness
    return MouthShape(
        opening=0.38 * sound.loudness * (0.3 + 0.7 * voice),
        rest=1.0 - sound.loudness,
        width=sound.loudness * (0.03 + 0.05 * sound.brightness),
    )
