"""The lip-sync models' speech features: Wav2Lip's mel windows, one per video frame."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter, resample_poly

from avatar_animator.lipsync_audio import (
    MAX_ABS_VALUE,
    SAMPLE_RATE,
    MelWindows,
    mel_filterbank,
    normalized_mel,
)


def _tone(frequency: float, seconds: float, rate: int = SAMPLE_RATE, level: float = 0.3):
    times = np.arange(round(seconds * rate)) / rate
    return np.round(level * 32767 * np.sin(2 * np.pi * frequency * times)).astype(np.int16)


def _windows(samples: np.ndarray, rate: int, chunk: int, frames: int) -> np.ndarray:
    windows = MelWindows(rate, 25.0)
    for start in range(0, len(samples), chunk):
        windows.push(samples[start : start + chunk])
    return windows.windows(0, frames)


def _band_centres() -> np.ndarray:
    """Frequency (Hz) at which each mel filter peaks."""
    frequencies = np.linspace(0, SAMPLE_RATE / 2, mel_filterbank().shape[1])
    return frequencies[mel_filterbank().argmax(axis=1)]


@pytest.mark.parametrize("frequency", [300.0, 1000.0, 3000.0, 6000.0])
def test_a_tone_lights_the_mel_band_of_its_frequency(frequency):
    windows = _windows(_tone(frequency, 1.0), SAMPLE_RATE, 4000, 25)
    assert windows.shape == (25, 1, 80, 16) and windows.dtype == np.float32
    levels = windows[12, 0].mean(axis=1)  # the middle frame: all of its window is tone
    loudest = int(levels.argmax())
    assert abs(_band_centres()[loudest] - frequency) < 0.08 * frequency + 40
    # Far from the tone the bands stay near the floor.
    far = np.abs(_band_centres() - frequency) > 0.5 * frequency + 500
    assert levels[far].max() < levels[loudest] - 2.0


def test_silence_is_the_floor_and_louder_is_higher():
    silent = _windows(np.zeros(16000, np.int16), SAMPLE_RATE, 16000, 25)
    assert np.all(silent == -MAX_ABS_VALUE)
    quiet = _windows(_tone(500, 1.0, level=0.01), SAMPLE_RATE, 16000, 25)[12].max()
    loud = _windows(_tone(500, 1.0, level=0.5), SAMPLE_RATE, 16000, 25)[12].max()
    assert -MAX_ABS_VALUE < quiet < loud <= MAX_ABS_VALUE


def test_each_window_is_the_16_mel_frames_centred_on_its_frame():
    # A click at 0.4 s: frame 10 (0.4 s) holds it in the middle of its window, frames
    # more than 0.1 s away do not hold it at all.
    samples = np.zeros(16000, np.int16)
    samples[6400:6480] = 20000
    windows = _windows(samples, SAMPLE_RATE, 16000, 25)
    loudest_column = windows[10, 0].mean(axis=0).argmax()
    assert 7 <= loudest_column <= 8
    for far in (6, 14):
        assert windows[far, 0].max() < windows[10, 0].max() - 2.0


def test_the_features_match_wav2lips_audio_py_computed_with_librosa():
    librosa = pytest.importorskip("librosa")
    rng = np.random.default_rng(1)
    samples = np.round(rng.normal(0, 3000, 32000)).clip(-32768, 32767).astype(np.int16)
    signal = samples / 32768.0
    # Wav2Lip's audio.py: pre-emphasis, librosa's STFT and Slaney mel filters, dB, normalised.
    emphasised = lfilter([1.0, -0.97], [1.0], signal)
    spectrum = np.abs(librosa.stft(y=emphasised, n_fft=800, hop_length=200, win_length=800))
    filters = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600)
    decibels = 20 * np.log10(np.maximum(1e-5, filters @ spectrum)) - 20
    expected = np.clip(8 * (decibels + 100) / 100 - 4, -4, 4)
    ours = normalized_mel(signal, 0, expected.shape[1], 0)
    # The last frames differ: the reference stops at the end, ours hears silence after it.
    assert np.abs(ours[:, :-2] - expected[:, :-2]).max() < 1e-4
    windows = _windows(samples, SAMPLE_RATE, 3333, 50)
    centre = round(30 * 80 / 25)
    assert np.abs(windows[30, 0] - expected[:, centre - 8 : centre + 8]).max() < 1e-4


@pytest.mark.parametrize("rate", [22050, 24000, 48000])
def test_other_rates_are_resampled_to_16_khz_and_chunks_do_not_matter(rate):
    samples = _tone(700, 2.0, rate) + _tone(2500, 2.0, rate, level=0.1)
    whole = _windows(samples, rate, len(samples), 50)
    for chunk in (997, 4410):
        assert np.array_equal(_windows(samples, rate, chunk, 50), whole)
    at_16k = np.round(resample_poly(samples.astype(np.float64), 16000, rate)).astype(np.int16)
    reference = _windows(at_16k, SAMPLE_RATE, len(at_16k), 50)
    difference = np.abs(whole[5:45] - reference[5:45])
    # The reference was rounded to 16 bits: its quantisation noise shows near -96 dB only.
    assert difference[reference[5:45] > -3.0].max() < 0.01 and difference.max() < 0.1


def test_a_frame_is_ready_once_the_audio_covers_its_window():
    windows = MelWindows(24000, 25.0)
    windows.push(_tone(440, 0.5, 24000))
    assert windows.ready(0)
    # Frame 9 (0.36 s) needs the audio to about 0.36 + 0.1 + 0.025 s: 0.5 s covers it.
    assert windows.ready(9)
    assert not windows.ready(10)
    ready_now = windows.windows(9, 1)
    windows.push(_tone(440, 0.5, 24000))
    assert np.array_equal(windows.windows(9, 1), ready_now)
