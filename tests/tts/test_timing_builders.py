"""Timing tracks built from engine events: espeak-ng events and coqui token durations."""

from __future__ import annotations

import pytest

from avatar_core.timing import Phoneme, Word
from avatar_tts.engines.coqui_timing import (
    TokenDuration,
    fit_to_duration,
    letter_to_sound,
    tokens_to_timings,
)
from avatar_tts.engines.espeak_library import EVENT_PHONEME, EVENT_WORD, EspeakEvent
from avatar_tts.engines.espeak_timing import EspeakTimingBuilder, parse_phoneme_name

RATE = 1000  # one sample per millisecond keeps the arithmetic readable


def _word(sample: int, position: int, length: int) -> EspeakEvent:
    return EspeakEvent(EVENT_WORD, sample, position, length)


def _phoneme(sample: int, position: int, name: str) -> EspeakEvent:
    return EspeakEvent(EVENT_PHONEME, sample, position, phoneme=name)


def test_stress_marks_are_read_and_removed():
    assert parse_phoneme_name("ˈaɪ") == ("aɪ", True)
    assert parse_phoneme_name("ˌə") == ("ə", False)
    assert parse_phoneme_name("") == ("_", False)


def test_espeak_events_become_contiguous_phonemes_and_words():
    builder = EspeakTimingBuilder("Hi, you.", RATE)
    released = builder.add(
        [_word(0, 1, 2), _phoneme(10, 1, "h"), _phoneme(70, 1, "ˈaɪ"), _phoneme(350, 3, "")]
    )
    assert [p.symbol for p in released[0]] == ["_", "h", "aɪ"]
    assert released[1] == []  # "Hi" ends only when another word starts
    released = builder.add([_word(500, 5, 3), _phoneme(500, 3, ""), _phoneme(510, 5, "j")])
    assert released[0] == [Phoneme("_", 0.35, 0.51)]  # two pause events are one pause
    assert released[1] == [Word("Hi", 0.01, 0.35)]
    phonemes, words = builder.finish(total_samples=700)
    assert phonemes == [Phoneme("j", 0.51, 0.7)]
    assert words == [Word("you", 0.51, 0.7)]


def test_espeak_number_word_events_merge_into_one_written_word():
    builder = EspeakTimingBuilder("Got 123.", RATE)
    batches = [
        [_word(0, 1, 3), _phoneme(0, 1, "ɡ"), _phoneme(100, 1, "ɑ"), _phoneme(200, 1, "t")],
        # espeak-ng reads "123" as overlapping words (5+3, 6+3) with a break inside.
        [_word(300, 5, 3), _phoneme(300, 5, "w"), _phoneme(400, 5, ""), _word(450, 6, 3)],
        [_phoneme(450, 6, "t"), _phoneme(500, 6, "uː")],
    ]
    words = [word for batch in batches for word in builder.add(batch)[1]]
    words += builder.finish(total_samples=650)[1]
    assert words == [Word("Got", 0.0, 0.3), Word("123", 0.3, 0.65)]


def test_coqui_tokens_group_into_phonemes_with_stress_length_and_blanks():
    tokens = [
        TokenDuration("<BOS>", 2),
        TokenDuration("h", 3),
        TokenDuration("ˈ", 1),
        TokenDuration("a", 4),
        TokenDuration("ː", 2),
        TokenDuration("<BLNK>", 1),
        TokenDuration(",", 5),
        TokenDuration(" ", 1),
        TokenDuration("j", 3),
        TokenDuration("u", 3),
        TokenDuration("?", 2),
    ]
    phonemes, words = tokens_to_timings(
        tokens,
        seconds_per_frame=0.01,
        special_tokens=frozenset({"<BOS>", "<BLNK>"}),
        tokens_are_phonemes=True,
        language="en",
        text="Ha, you?",
    )
    assert [(p.symbol, p.stressed) for p in phonemes] == [
        ("_", False),
        ("h", False),
        ("aː", True),
        ("_", False),
        ("j", False),
        ("u", False),
        ("_", False),
    ]
    assert phonemes[0].start_seconds == 0.0
    assert phonemes[-1].end_seconds == pytest.approx(0.27)
    for before, after in zip(phonemes, phonemes[1:], strict=False):
        assert before.end_seconds == pytest.approx(after.start_seconds)
    assert [w.text for w in words] == ["Ha", "you"]
    assert words[0].start_seconds == pytest.approx(0.02)
    assert words[0].end_seconds == pytest.approx(0.13)


def test_two_token_diphthongs_and_affricates_become_one_phoneme():
    tokens = [TokenDuration(c, 2) for c in "tʃˈaɪ aɪ"]
    phonemes, _ = tokens_to_timings(
        tokens,
        seconds_per_frame=0.01,
        special_tokens=frozenset(),
        tokens_are_phonemes=True,
        language="en",
        text="chai I",
    )
    assert [(p.symbol, p.stressed) for p in phonemes] == [
        ("tʃ", False),
        ("aɪ", True),
        ("aɪ", False),
    ]
    assert phonemes[0].end_seconds == pytest.approx(0.06)  # t, ʃ and the stress mark


def test_letters_of_character_models_are_read_as_sounds():
    assert letter_to_sound("č", "hr") == "tʃ"
    assert letter_to_sound("C", "hr-HR") == "ts"
    assert letter_to_sound("c", "en-US") == "k"
    assert letter_to_sound("m", "en") == "m"


def test_words_fall_back_to_numbers_when_the_model_text_differs():
    tokens = [TokenDuration(c, 1) for c in "twenty three"]
    _, words = tokens_to_timings(
        tokens,
        seconds_per_frame=0.01,
        special_tokens=frozenset(),
        tokens_are_phonemes=False,
        language="en",
        text="23",
    )
    assert [w.text for w in words] == ["#1", "#2"]


def test_fit_to_duration_clips_or_closes_with_a_pause():
    track = [Phoneme("a", 0.0, 0.5), Phoneme("b", 0.5, 1.0)]
    clipped, words = fit_to_duration(track, [Word("ab", 0.0, 1.0)], 0.8)
    assert clipped[-1] == Phoneme("b", 0.5, 0.8) and words == [Word("ab", 0.0, 0.8)]
    extended, _ = fit_to_duration(track, [], 1.2)
    assert extended[-1] == Phoneme("_", 1.0, 1.2)
    assert fit_to_duration(track, [], 0.0) == ([], [])
