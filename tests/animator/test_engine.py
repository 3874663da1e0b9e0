"""Tests of the animation session: frame counts, streaming, lip sync and determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest

from avatar_animator.engine import (
    LOOKAHEAD_SECONDS,
    AnimationSession,
    MotionSettings,
)
from avatar_animator.errors import AnimationInputError
from avatar_core.timing import Phoneme

STEADY = MotionSettings(seed=3, blinks_per_minute=0.0, still_head=True)


def _tone(seconds: float, sample_rate: int, amplitude: int = 10000) -> np.ndarray:
    times = np.arange(round(seconds * sample_rate)) / sample_rate
    return (np.sin(2 * np.pi * 180 * times) * amplitude).astype(np.int16)


def _render_all(session: AnimationSession, audio: np.ndarray, chunk: int, phonemes=()) -> list:
    session.push_phonemes(phonemes)
    frames = []
    for start in range(0, len(audio), chunk):
        session.push_audio(audio[start : start + chunk])
        frames += session.render_ready()
    return frames + session.finish()


def _syllables(sample_rate: int) -> tuple[list[Phoneme], np.ndarray]:
    """'_ m a p a b a m a _' with 0.1 s consonants and 0.25 s vowels, over a tone."""
    symbols = ["_", "m", "a", "p", "a", "b", "a", "m", "a", "_"]
    phonemes, time = [], 0.0
    for symbol in symbols:
        length = 0.25 if symbol == "a" else 0.1 if symbol != "_" else 0.2
        phonemes.append(Phoneme(symbol, time, time + length, stressed=symbol == "a"))
        time += length
    return phonemes, _tone(time, sample_rate)


@pytest.mark.parametrize(
    ("samples", "sample_rate", "fps"),
    [
        (22050, 22050, 25.0),
        (22051, 22050, 25.0),
        (8000, 16000, 30.0),
        (1, 16000, 25.0),
        (3 * 44100 + 7, 44100, 24.0),
        (24000, 24000, 29.97),
    ],
)
def test_frame_count_is_the_ceiling_of_duration_times_fps(sample_face, samples, sample_rate, fps):
    session = AnimationSession(sample_face, fps=fps, sample_rate=sample_rate, motion=STEADY)
    frames = _render_all(session, np.zeros(samples, dtype=np.int16), chunk=1777)
    assert len(frames) == math.ceil(samples * fps / sample_rate)
    assert session.frames_rendered == len(frames)
    assert all(frame.shape == (512, 512, 3) and frame.dtype == np.uint8 for frame in frames)


def test_no_audio_means_no_frames(sample_face):
    session = AnimationSession(sample_face, sample_rate=16000)
    assert session.render_ready() == [] and session.finish() == []


def test_frames_wait_for_the_audio_that_covers_them(sample_face):
    session = AnimationSession(sample_face, fps=25.0, sample_rate=16000, motion=STEADY)
    session.push_audio(np.zeros(16000, dtype=np.int16))
    ready = session.render_ready()
    assert len(ready) == math.floor((1.0 - LOOKAHEAD_SECONDS) * 25) + 1
    assert session.render_ready() == []
    assert len(session.finish()) == 25 - len(ready)


def test_with_timings_frames_also_wait_for_the_phonemes(sample_face):
    session = AnimationSession(sample_face, fps=25.0, sample_rate=16000, motion=STEADY)
    session.push_audio(_tone(1.0, 16000))
    session.push_phonemes([Phoneme("a", 0.0, 0.4)])
    first = session.render_ready()
    assert 0 < len(first) <= 0.4 * 25
    session.push_phonemes([Phoneme("m", 0.4, 0.5), Phoneme("a", 0.5, 1.0)])
    assert len(first) + len(session.render_ready()) + len(session.finish()) == 25
    assert session.used_timings


def test_mouth_opens_on_vowels_and_closes_on_bilabials(sample_face, lip_meter):
    phonemes, audio = _syllables(16000)
    session = AnimationSession(sample_face, fps=25.0, sample_rate=16000, motion=STEADY)
    frames = _render_all(session, audio, chunk=4000, phonemes=phonemes)

    def gap_at(seconds: float) -> float:
        return lip_meter.gap(frames[round(seconds * 25)])

    vowels = [gap_at((p.start_seconds + p.end_seconds) / 2) for p in phonemes if p.symbol == "a"]
    closures = [
        min(
            gap_at(index / 25)
            for index in range(round(p.start_seconds * 25) - 1, round(p.end_seconds * 25) + 1)
        )
        for p in phonemes
        if p.symbol in "mpb"
    ]
    assert min(vowels) > 15.0
    assert max(closures) < 4.0


def test_espeak_speech_drives_the_lips(sample_face, lip_meter):
    espeak = pytest.importorskip("avatar_tts.engines.espeak")
    engine = espeak.EspeakEngine()
    chunks = list(engine.synthesize("Maybe Bob can pop by. Are you happy?", "en-us"))
    session = AnimationSession(sample_face, fps=25.0, sample_rate=engine.sample_rate, motion=STEADY)
    frames = []
    for chunk in chunks:
        session.push_phonemes(chunk.phonemes)
        session.push_audio(chunk.samples)
        frames += session.render_ready()
    frames += session.finish()
    samples = sum(len(chunk.samples) for chunk in chunks)
    assert len(frames) == math.ceil(samples * 25 / engine.sample_rate)
    phonemes = [p for chunk in chunks for p in chunk.phonemes]
    bilabial = [p for p in phonemes if p.symbol.strip("ˈˌː") in ("m", "b", "p")]
    open_vowels = [p for p in phonemes if p.symbol.strip("ˈˌː")[:1] in ("a", "æ", "ɑ", "ʌ")]
    assert len(bilabial) >= 5 and len(open_vowels) >= 3

    def frame_gaps(phoneme: Phoneme) -> list[float]:
        first, last = math.floor(phoneme.start_seconds * 25), math.ceil(phoneme.end_seconds * 25)
        return [lip_meter.gap(frames[index]) for index in range(first, min(last + 1, len(frames)))]

    assert np.median([min(frame_gaps(p)) for p in bilabial]) < 4.0
    assert np.median([max(frame_gaps(p)) for p in open_vowels]) > 12.0


def test_without_timings_the_mouth_follows_loudness(sample_face, lip_meter):
    audio = np.concatenate([np.zeros(8000, np.int16), _tone(0.5, 16000), np.zeros(8000, np.int16)])
    session = AnimationSession(sample_face, fps=25.0, sample_rate=16000, motion=STEADY)
    frames = _render_all(session, audio, chunk=3200)
    assert not session.used_timings
    quiet, loud = lip_meter.gap(frames[5]), lip_meter.gap(frames[19])
    assert loud > quiet + 8.0


def test_same_seed_same_frames_and_other_seed_other_frames(sample_face):
    phonemes, audio = _syllables(16000)

    def render(seed: int) -> list[np.ndarray]:
        session = AnimationSession(
            sample_face, fps=25.0, sample_rate=16000, motion=MotionSettings(seed=seed)
        )
        return _render_all(session, audio, chunk=5000, phonemes=phonemes)

    first, again, other = render(11), render(11), render(12)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert any(not np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_consecutive_utterances_continue_the_idle_motion(sample_face):
    motion = MotionSettings(seed=8, blinks_per_minute=30.0)
    whole = _render_all(
        AnimationSession(sample_face, fps=25.0, sample_rate=16000, motion=motion),
        np.zeros(96000, np.int16),
        8000,
    )
    parts = []
    for start_frame in (0, 50, 100):
        session = AnimationSession(
            sample_face, fps=25.0, sample_rate=16000, start_frame=start_frame, motion=motion
        )
        parts += _render_all(session, np.zeros(32000, np.int16), 8000)
    assert len(parts) == len(whole) == 150
    assert all(np.array_equal(a, b) for a, b in zip(whole, parts, strict=True))
    assert any(not np.array_equal(whole[0], frame) for frame in whole)  # it does move


def test_zero_articulation_keeps_the_photo_mouth(sample_face):
    phonemes, audio = _syllables(16000)
    still_mouth = MotionSettings(seed=3, still_head=True, articulation=0.0)
    speaking = AnimationSession(sample_face, fps=25.0, sample_rate=16000, motion=still_mouth)
    spoken = _render_all(speaking, audio, chunk=5000, phonemes=phonemes)
    silent = AnimationSession(sample_face, fps=25.0, sample_rate=16000, motion=still_mouth)
    idle = _render_all(silent, np.zeros_like(audio), chunk=5000)
    assert all(np.array_equal(a, b) for a, b in zip(spoken, idle, strict=True))


@pytest.mark.parametrize(
    "settings",
    [{"fps": 0.0}, {"fps": 500.0}, {"sample_rate": 100}, {"start_frame": -1}],
)
def test_bad_settings_are_refused(sample_face, settings):
    with pytest.raises(AnimationInputError):
        AnimationSession(sample_face, **({"sample_rate": 16000} | settings))


def test_bad_input_is_refused(sample_face):
    session = AnimationSession(sample_face, sample_rate=16000)
    with pytest.raises(AnimationInputError, match="int16"):
        session.push_audio(np.zeros(100, dtype=np.float32))
    with pytest.raises(AnimationInputError, match="mono"):
        session.push_audio(np.zeros((100, 2), dtype=np.int16))
    with pytest.raises(AnimationInputError, match="invalid span"):
        session.push_phonemes([Phoneme("a", 0.5, 0.2)])
    session.push_audio(np.zeros(1600, dtype=np.int16))
    assert len(session.finish()) == 3
    with pytest.raises(AnimationInputError, match="finished"):
        session.push_audio(np.zeros(10, dtype=np.int16))


def test_the_head_nods_on_stressed_syllables(sample_face, observer):
    def render(stressed: bool) -> list[np.ndarray]:
        phonemes = [
            Phoneme("_", 0.0, 0.3),
            Phoneme("h", 0.3, 0.4),
            Phoneme("ɛ", 0.4, 0.7, stressed=stressed),
            Phoneme("l", 0.7, 0.8),
            Phoneme("oʊ", 0.8, 1.2),
        ]
        session = AnimationSession(
            sample_face, fps=25.0, sample_rate=16000, motion=MotionSettings(seed=5)
        )
        return _render_all(session, _tone(1.4, 16000), 4000, phonemes)

    plain, stressed = render(False), render(True)

    def head_drop(index: int) -> float:
        """How much lower the head is in the stressed clip (pixels)."""
        centres = [observer.observe(frames[index]).head_centre[1] for frames in (stressed, plain)]
        return centres[0] - centres[1]

    assert abs(head_drop(round(0.35 * 25))) < 0.6  # nothing moves ahead of the stress
    assert 1.5 < head_drop(round((0.4 + 0.25) * 25)) < 8.0  # half a nod later: a small dip


def test_without_timings_loudness_peaks_bring_nods(sample_face, observer):
    beat = np.concatenate([_tone(0.2, 16000), np.zeros(4800, np.int16)])  # 0.5 s syllables
    syllables, steady = np.tile(beat, 3), _tone(1.5, 16000)

    def render(audio: np.ndarray) -> list[np.ndarray]:
        motion = MotionSettings(seed=5, blinks_per_minute=0.0)
        session = AnimationSession(sample_face, fps=25.0, sample_rate=16000, motion=motion)
        return _render_all(session, audio, 3000)

    beats, hum = render(syllables), render(steady)
    # Half a nod after the second syllable's loudness peak; the idle sway is the same.
    peak = round((0.5 + 0.1 + 0.25) * 25)
    drop = observer.observe(beats[peak]).head_centre[1] - observer.observe(hum[peak]).head_centre[1]
    assert 1.5 < drop < 8.0
