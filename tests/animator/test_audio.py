"""Tests of what the animator hears (loudness, brightness) and emphasis moments."""

from __future__ import annotations

import numpy as np

from avatar_animator.audio import SoundMeter, audio_mouth
from avatar_animator.emphasis import MIN_GAP_SECONDS, NOD_SECONDS, EmphasisTrack
from avatar_core.timing import Phoneme

FPS = 25.0
RATE = 16000


def _tone(seconds: float, frequency: float, amplitude: float = 12000.0) -> np.ndarray:
    times = np.arange(round(seconds * RATE)) / RATE
    return (np.sin(2 * np.pi * frequency * times) * amplitude).astype(np.int16)


def _measure(samples: np.ndarray, frames: int) -> list:
    meter = SoundMeter(RATE, FPS)
    return [meter.measure(samples, index) for index in range(frames)]


def test_loudness_opens_the_mouth_and_silence_rests_it():
    audio = np.concatenate([np.zeros(RATE // 2, np.int16), _tone(1.5, 220.0)])
    shapes = [audio_mouth(sound) for sound in _measure(audio, 50)]
    assert all(shape.opening == 0.0 and shape.rest == 1.0 for shape in shapes[:10])
    assert min(shape.opening for shape in shapes[15:50]) > 0.25


def test_hiss_is_bright_and_opens_less_than_voice():
    rng = np.random.default_rng(1)
    hiss = np.diff(rng.normal(0, 6000, RATE + 1)).astype(np.int16)  # high-passed noise
    audio = np.concatenate([_tone(1.0, 200.0, 9000), hiss])
    sounds = _measure(audio, 50)
    voice, fricative = sounds[12], sounds[37]
    assert voice.brightness < 0.1 and fricative.brightness > 0.9
    assert audio_mouth(fricative).opening < 0.6 * audio_mouth(voice).opening
    assert audio_mouth(fricative).width > audio_mouth(voice).width


def test_a_quiet_voice_still_moves_the_mouth_and_louder_opens_wider():
    quiet, loud = _tone(1.0, 200.0, 1000), _tone(1.0, 200.0, 8000)
    sounds = _measure(np.concatenate([loud, quiet, loud]), 75)
    assert audio_mouth(sounds[40]).opening < audio_mouth(sounds[60]).opening
    alone = _measure(quiet, 25)
    assert audio_mouth(alone[12]).opening > 0.25  # judged against its own loudest part


def test_stressed_vowels_become_moments_of_emphasis_kept_apart():
    track = EmphasisTrack(seed=1)
    track.add_phonemes(
        [
            Phoneme("h", 0.0, 0.05, stressed=True),  # a stressed consonant is no moment
            Phoneme("ˈɛ", 0.05, 0.2, stressed=True),
            Phoneme("l", 0.2, 0.3),
            Phoneme("oʊ", 0.3, 0.5, stressed=True),  # too close to the first
            Phoneme("æ", 0.9, 1.0),  # unstressed
            Phoneme("aɪ", 1.2, 1.4, stressed=True),
        ]
    )
    assert track.onsets == (0.05, 1.2)
    assert track.nod(0.05) == 0.0  # a pulse starts from rest
    assert 0.6 <= track.nod(0.05 + NOD_SECONDS / 2) <= 1.0
    assert track.nod(0.05 + NOD_SECONDS) < 1e-9 and track.brow(0.05 + NOD_SECONDS) == 0.0
    track.add(1.2 + MIN_GAP_SECONDS / 2)
    assert len(track) == 2


def test_emphasis_strength_depends_on_the_seed():
    first, other = EmphasisTrack(seed=1), EmphasisTrack(seed=2)
    for track in (first, other):
        for onset in (0.5, 1.5, 2.5):
            track.add(onset)
    peaks = [
        [track.nod(onset + NOD_SECONDS / 2) for onset in (0.5, 1.5, 2.5)]
        for track in (first, other)
    ]
    assert peaks[0] != peaks[1]
