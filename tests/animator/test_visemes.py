"""Tests of the IPA-to-viseme mapping and the coarticulated mouth track."""

from __future__ import annotations

import pytest

from avatar_animator.visemes import (
    REST_SHAPE,
    Viseme,
    VisemeTrack,
    viseme_segments,
    visemes_for_symbol,
)
from avatar_core.timing import Phoneme


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [
        ("p", (Viseme.PP,)),
        ("b", (Viseme.PP,)),
        ("m", (Viseme.PP,)),
        ("f", (Viseme.FF,)),
        ("ʋ", (Viseme.FF,)),
        ("ð", (Viseme.TH,)),
        ("tʃ", (Viseme.CH,)),
        ("t͡ʃ", (Viseme.CH,)),
        ("dʒ", (Viseme.CH,)),
        ("ɹ", (Viseme.RR,)),
        ("ˈaɪ", (Viseme.AA, Viseme.IH)),
        ("aʊ", (Viseme.AA, Viseme.OU)),
        ("ɑːɹ", (Viseme.AA, Viseme.RR)),
        ("uː", (Viseme.OU,)),
        ("ɡ", (Viseme.KK,)),
        ("tɕ", (Viseme.CH,)),
        ("_", (Viseme.SIL,)),
        ("", (Viseme.SIL,)),
        ("h", (None,)),
        ("☃", (None,)),
    ],
)
def test_ipa_symbols_map_to_visemes(symbol, expected):
    assert visemes_for_symbol(symbol) == expected


def test_diphthongs_split_their_time_span():
    segments = viseme_segments([Phoneme("aɪ", 1.0, 1.5, stressed=True)])
    assert [segment.viseme for segment in segments] == [Viseme.AA, Viseme.IH]
    assert segments[0].start_seconds == 1.0 and segments[-1].end_seconds == pytest.approx(1.5)
    assert segments[0].end_seconds == pytest.approx(segments[1].start_seconds)
    assert segments[0].end_seconds - 1.0 > 1.5 - segments[1].start_seconds
    assert all(segment.stressed for segment in segments)


def _track(phonemes, fps=25.0):
    track = VisemeTrack(min_closure_seconds=1.0 / fps)
    track.extend(phonemes)
    return track


def _alternating(consonant: str, vowel: str, count: int, consonant_seconds: float):
    """_ C V C V ... _ with 0.2 s vowels."""
    phonemes, time = [Phoneme("_", 0.0, 0.2)], 0.2
    for _ in range(count):
        phonemes.append(Phoneme(consonant, time, time + consonant_seconds))
        phonemes.append(Phoneme(vowel, time + consonant_seconds, time + consonant_seconds + 0.2))
        time += consonant_seconds + 0.2
    phonemes.append(Phoneme("_", time, time + 0.3))
    return phonemes


@pytest.mark.parametrize("fps", [25.0, 30.0, 24.0])
@pytest.mark.parametrize("consonant_seconds", [0.03, 0.06, 0.12])
@pytest.mark.parametrize("consonant", ["p", "b", "m"])
def test_lips_close_in_some_frame_of_every_bilabial(consonant, consonant_seconds, fps):
    phonemes = _alternating(consonant, "a", 6, consonant_seconds)
    track = _track(phonemes, fps)
    for phoneme in phonemes:
        if phoneme.symbol != consonant:
            continue
        nearby = range(
            int((phoneme.start_seconds - 0.1) * fps), int((phoneme.end_seconds + 0.1) * fps) + 1
        )
        shapes = [track.mouth_at(index / fps) for index in nearby]
        assert min(shape.opening + shape.rest for shape in shapes) == 0.0


@pytest.mark.parametrize("fps", [25.0, 30.0, 24.0, 60.0])
@pytest.mark.parametrize("consonant_seconds", [0.02, 0.03, 0.06, 0.15])
def test_the_frame_nearest_every_bilabial_centre_is_shut(consonant_seconds, fps):
    phonemes = _alternating("b", "a", 6, consonant_seconds)
    track = _track(phonemes, fps)
    for phoneme in phonemes:
        if phoneme.symbol == "b":
            frame = round((phoneme.start_seconds + phoneme.end_seconds) / 2 * fps)
            shape = track.mouth_at(frame / fps)
            assert shape.opening == 0.0 and shape.rest == 0.0


def test_lips_shut_ahead_of_a_stop_espeak_times_from_its_burst():
    # espeak-ng puts a stop's silent closure at the end of the phoneme before it.
    track = _track([Phoneme("a", 0.0, 0.3), Phoneme("p", 0.3, 0.33), Phoneme("a", 0.33, 0.6)])
    assert track.mouth_at(0.28).opening == 0.0
    assert track.mouth_at(0.45).opening > 0.3


def test_pauses_between_phrases_relax_the_lips_but_the_end_returns_to_the_photo():
    track = _track(
        [Phoneme("a", 0.0, 0.3), Phoneme("_", 0.3, 0.7), Phoneme("a", 0.7, 1.0)]
        + [Phoneme("_", 1.0, 1.01)]
    )
    assert track.mouth_at(0.5).rest < 0.4 and track.mouth_at(0.5).opening < 0.05
    assert track.mouth_at(2.0).rest > 0.99  # after the speech: the photo's own mouth
    leading = _track([Phoneme("_", 0.0, 0.5), Phoneme("a", 0.5, 0.8)])
    assert leading.mouth_at(0.2).rest > 0.95  # silence before any speech is no pause


def test_open_vowels_open_wider_than_bilabials():
    phonemes = _alternating("m", "a", 4, 0.08)
    track = _track(phonemes)
    vowel_openings = [
        track.mouth_at((p.start_seconds + p.end_seconds) / 2).opening
        for p in phonemes
        if p.symbol == "a"
    ]
    closure_openings = [
        track.mouth_at((p.start_seconds + p.end_seconds) / 2 - 0.03).opening
        for p in phonemes
        if p.symbol == "m"
    ]
    assert min(vowel_openings) > 0.25
    assert max(closure_openings) < 0.05


def test_rounded_vowels_narrow_the_mouth_and_spread_vowels_widen_it():
    track = _track([Phoneme("u", 0.0, 0.3), Phoneme("_", 0.3, 1.0), Phoneme("i", 1.0, 1.3)])
    assert track.mouth_at(0.15).width < -0.15
    assert track.mouth_at(1.15).width > 0.05


def test_neighbours_blend_at_a_boundary():
    track = _track([Phoneme("a", 0.0, 0.3), Phoneme("u", 0.3, 0.6)])
    at_a, at_boundary, at_u = (track.mouth_at(t).width for t in (0.1, 0.3 - 0.03, 0.5))
    assert at_u < at_boundary < at_a


def test_far_from_speech_the_mouth_rests():
    track = _track([Phoneme("a", 1.0, 1.2)])
    assert track.mouth_at(5.0) == pytest.approx(REST_SHAPE)
    assert track.mouth_at(0.0).rest > 0.99


def test_glottal_sounds_take_their_neighbours_shape():
    track = _track([Phoneme("a", 0.0, 0.2), Phoneme("h", 0.2, 0.28), Phoneme("a", 0.28, 0.5)])
    assert track.mouth_at(0.24 - 0.03).opening > 0.3


def test_phonemes_may_arrive_out_of_order():
    ordered = _track([Phoneme("a", 0.0, 0.2), Phoneme("m", 0.2, 0.3), Phoneme("o", 0.3, 0.5)])
    shuffled = _track([Phoneme("o", 0.3, 0.5), Phoneme("a", 0.0, 0.2), Phoneme("m", 0.2, 0.3)])
    for time in (0.05, 0.22, 0.25, 0.4):
        assert shuffled.mouth_at(time) == ordered.mouth_at(time)
    assert ordered.end_seconds == 0.5
