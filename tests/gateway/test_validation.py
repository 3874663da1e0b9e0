"""Speak requests and display names checked before any work starts."""

from __future__ import annotations

import math

import pytest

from avatar.common.v1 import media_pb2
from avatar.gateway.v1 import gateway_pb2
from avatar_gateway.validation import (
    MAX_CONVERSATION_ID_CHARS,
    MAX_DISPLAY_NAME_CHARS,
    MAX_VOICE_NAME_CHARS,
    display_name_problem,
    speak_request_problem,
)

LIMIT = 100


def _problem(**fields) -> str | None:
    fields.setdefault("text", "Hello there.")
    return speak_request_problem(gateway_pb2.SpeakRequest(**fields), LIMIT)


def test_a_plain_request_is_fine():
    assert _problem() is None
    assert _problem(text=" " * 50 + "x" * LIMIT + "\n") is None  # white space does not count


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"text": "   "}, "text is empty: say something"),
        ({"text": "x" * (LIMIT + 1)}, f"text is {LIMIT + 1} characters; the limit is {LIMIT}"),
        ({"text": "?!"}, "text has nothing to speak: it needs at least one letter or digit"),
        ({"mode": 7}, "mode 7 is unknown; use one of SPEAK_MODE_"),
        ({"quality": 9}, "quality 9 is unknown; use one of QUALITY_"),
        ({"frame_encoding": 5}, "frame_encoding 5 is unknown; use one of FRAME_ENCODING_"),
        ({"fps": 0.5}, "fps must be between 1 and 60 (0 means the default), got 0.5"),
        ({"fps": 61.0}, "fps must be between 1 and 60"),
        ({"fps": math.nan}, "fps must be between 1 and 60"),
        ({"conversation_id": "c" * (MAX_CONVERSATION_ID_CHARS + 1)}, "conversation_id is 257"),
        ({"voice": "v" * (MAX_VOICE_NAME_CHARS + 1)}, "voice is 65 characters; the limit is 64"),
    ],
)
def test_a_bad_field_is_named_in_the_problem(fields, expected):
    problem = _problem(**fields)
    assert problem is not None and problem.startswith(expected)


def test_unknown_enums_list_the_values_to_use_without_the_unspecified_one():
    problem = _problem(quality=9)
    assert "QUALITY_LOW" in problem and "QUALITY_HIGH" in problem
    assert "UNSPECIFIED" not in problem


def test_chat_may_send_text_without_letters_for_the_llm_to_answer():
    assert _problem(text="?!", mode=gateway_pb2.SPEAK_MODE_CHAT) is None


@pytest.mark.parametrize("fps", [0.0, 1.0, 25.0, 60.0])
def test_fps_in_range_or_zero_for_the_default_is_fine(fps):
    assert _problem(fps=fps) is None


@pytest.mark.parametrize("field", ["blinks_per_minute", "head_motion", "articulation"])
@pytest.mark.parametrize("value", [-0.5, math.inf, math.nan])
def test_motion_settings_must_be_finite_and_not_negative(field, value):
    problem = _problem(motion=media_pb2.MotionSettings(**{field: value}))
    assert problem is not None
    assert problem.startswith(f"motion.{field} must be a finite number of at least 0")


def test_the_first_problem_is_the_one_reported():
    problem = _problem(text="", fps=500.0, voice="v" * 100)
    assert problem == "text is empty: say something"


def test_display_names_are_limited_in_length():
    assert display_name_problem("") is None
    assert display_name_problem("n" * MAX_DISPLAY_NAME_CHARS) is None
    assert display_name_problem("n" * (MAX_DISPLAY_NAME_CHARS + 1)) == (
        f"display_name is {MAX_DISPLAY_NAME_CHARS + 1} characters; "
        f"the limit is {MAX_DISPLAY_NAME_CHARS}"
    )
