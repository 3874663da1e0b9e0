"""Sentence splitting for speech: rules, streaming, bounds and adversarial input."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from avatar_gateway.sentences import SentenceBuffer, is_question, split_sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello there. How are you? I am fine!", ["Hello there.", "How are you?", "I am fine!"]),
        ("One sentence only", ["One sentence only"]),
        ("Wait... What?! Yes.", ["Wait...", "What?!", "Yes."]),
        ("Hmm… Maybe later.", ["Hmm…", "Maybe later."]),
        ('She said "Stop." Then she left.', ['She said "Stop."', "Then she left."]),
        ("(It works.) Good.", ["(It works.)", "Good."]),
        ('He asked "why?" and left. Fine.', ['He asked "why?" and left.', "Fine."]),
        ("So do I. Then go.", ["So do I.", "Then go."]),
        ("First line\nsame sentence. Next.", ["First line same sentence.", "Next."]),
        ("Paragraph one\n\nParagraph two", ["Paragraph one", "Paragraph two"]),
        ("你好。我很好！谢谢", ["你好。", "我很好！", "谢谢"]),
        ("  spaced   out\ttext .  ", ["spaced out text ."]),
    ],
)
def test_splits_at_sentence_ends(text, expected):
    assert split_sentences(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Mr. Smith met Dr. Jones and Prof. Horvat at St. Mark's.",
        "Pi is 3.14 and e is 2.718 today.",
        "J. R. R. Tolkien and John F. Kennedy were born.",
        "Bring fruit, e.g. apples, i.e. green ones, etc. and more.",
        "See No. 5 on Jan. 3 at the office.",
        "Rođen je 5. svibnja u Zagrebu.",
        "Wait... maybe not.",
        "Ask npr. Anu ili dr. Ivića.",
    ],
)
def test_abbreviations_decimals_and_initials_stay_together(text):
    assert split_sentences(text) == [text]


def test_abbreviation_at_sentence_end_still_splits_before_a_capital():
    assert split_sentences("We met at 5 p.m. Then we ate. I like fruit etc. It is fine.") == [
        "We met at 5 p.m.",
        "Then we ate.",
        "I like fruit etc.",
        "It is fine.",
    ]


def test_pieces_without_letters_or_digits_are_dropped():
    assert split_sentences("") == []
    assert split_sentences("   \n\n  ") == []
    assert split_sentences("... ?! Hello. !!!") == ["Hello."]


@pytest.mark.parametrize("max_chars", [20, 57, 300])
def test_long_sentences_are_cut_within_the_limit_without_losing_words(max_chars):
    text = ("This clause is long, and it goes on; it keeps going: " * 30).strip()
    pieces = split_sentences(text, max_chars=max_chars)
    assert len(pieces) > 1
    assert all(len(piece) <= max_chars for piece in pieces)
    assert " ".join(pieces).split() == text.split()


def test_long_sentences_prefer_clause_marks_to_spaces():
    text = "alpha beta gamma delta, epsilon zeta eta theta iota kappa lambda mu"
    pieces = split_sentences(text, max_chars=40)
    assert pieces[0] == "alpha beta gamma delta,"


def test_a_word_longer_than_the_limit_is_cut_inside():
    pieces = split_sentences("short " + "x" * 70 + " end", max_chars=30)
    assert pieces == ["short", "x" * 30, "x" * 30, "x" * 10 + " end"]


def test_max_chars_must_leave_room_for_a_word():
    with pytest.raises(ValueError, match="max_chars"):
        split_sentences("Hello.", max_chars=2)


def test_buffer_reports_a_sentence_once_the_next_one_starts():
    buffer = SentenceBuffer()
    assert buffer.push("Hello the") == []
    assert buffer.push("re.") == []
    # Still open: "Mr." or "e.g." could follow and continue the sentence.
    assert buffer.push(" ") == []
    assert buffer.push("How") == ["Hello there."]
    assert buffer.push(" are you? I") == ["How are you?"]
    assert buffer.flush() == ["I"]
    assert buffer.flush() == []


def test_buffer_cuts_cjk_and_long_text_before_the_stream_ends():
    buffer = SentenceBuffer(max_chars=20)
    assert buffer.push("你好。我") == ["你好。"]
    assert buffer.flush() == ["我"]
    pieces = buffer.push("one two three four five six seven eight nine")
    assert pieces and all(len(piece) <= 20 for piece in pieces)
    assert " ".join(pieces + buffer.flush()).split() == [
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
    ]


_PROSE = st.text(alphabet=st.sampled_from(list("abcAB 1.,;!?…\n\"')。Mr")), max_size=300)


@settings(max_examples=200, deadline=None)
@given(text=_PROSE, cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=10))
def test_streaming_in_any_pieces_gives_the_same_sentences(text, cuts):
    buffer = SentenceBuffer(max_chars=40)
    streamed = []
    previous = 0
    for cut in sorted({min(cut, len(text)) for cut in cuts}) + [len(text)]:
        streamed += buffer.push(text[previous:cut])
        previous = cut
    streamed += buffer.flush()
    assert streamed == split_sentences(text, max_chars=40)


@settings(max_examples=200, deadline=None)
@given(text=_PROSE)
def test_no_word_is_lost_or_invented(text):
    pieces = split_sentences(text, max_chars=40)
    assert all(0 < len(piece) <= 40 for piece in pieces)
    assert all(piece == piece.strip() for piece in pieces)
    spoken = "".join("".join(pieces).split())
    # Only pieces with nothing to say (no letter or digit) may be dropped.
    original = "".join(text.split())
    assert [c for c in spoken if c.isalnum()] == [c for c in original if c.isalnum()]


@pytest.mark.parametrize(
    "adversarial",
    [
        "." * 100_000,
        ". " * 50_000,
        "..[111 111 " * 10_000,
        "1." * 50_000,
        "a. " * 40_000,
        "Mr. " * 30_000,
        "?!" * 50_000,
        "x" * 100_000,
        "x, " * 40_000,
        "。" * 100_000,
        "\n" * 100_000,
        '"(' * 50_000 + ".",
    ],
    ids=lambda text: repr(text[:12]),
)
def test_adversarial_input_is_split_in_linear_time(adversarial):
    started = time.perf_counter()
    pieces = split_sentences(adversarial)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"took {elapsed:.2f} s"
    assert all(len(piece) <= 300 for piece in pieces)


@pytest.mark.parametrize("mark", ["。", "！", "x。"])
def test_a_long_run_ending_in_a_cjk_mark_is_cut_to_the_limit(mark):
    text = "You said: " + mark * 1000
    pieces = split_sentences(text)
    assert all(len(piece) <= 300 for piece in pieces)
    assert "".join(pieces).replace(" ", "").count("x") == text.count("x")


def test_streaming_adversarial_input_one_character_at_a_time_is_fast():
    buffer = SentenceBuffer()
    started = time.perf_counter()
    for character in "a." * 25_000 + "x" * 50_000:
        buffer.push(character)
    buffer.flush()
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("How are you today", True),
        ("What's your name", True),
        ("Is it raining?", True),
        ("Could you help me", True),
        ("Don't worry about it.", False),
        ("Tell me a joke?", True),
        ("Hi. How are you?", True),
        ("“Why not”", True),
        ("Kako si danas", True),
        ("Što radiš?", True),
        ("Gdje je Zagreb", True),
        ("Je li to istina", True),
        ("Imaš li vremena", True),
        ("Koliko je sati", True),
        ("Hello, nice to meet you.", False),
        ("How wonderful this is!", False),
        ("Danas je lijep dan.", False),
        ("", False),
        ("   ", False),
    ],
)
def test_is_question(text, expected):
    assert is_question(text) is expected
