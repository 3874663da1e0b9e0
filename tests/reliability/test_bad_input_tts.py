"""Bad input to the tts service: clear statuses, and the service keeps serving.

What each voice does with text in another script: a voice reads the scripts of its own
language (plus Latin), so Chinese, Arabic or Cyrillic text sent to an English voice is
refused with INVALID_ARGUMENT naming the script, while a voice of that language speaks it.
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from avatar.tts.v1 import tts_pb2
from tests.reliability.harness import Case, check_case

pytestmark = pytest.mark.asyncio(loop_scope="session")

INVALID = grpc.StatusCode.INVALID_ARGUMENT


def _synthesize(**fields):
    return lambda shared: shared.stubs.tts.Synthesize(
        tts_pb2.SynthesizeRequest(**fields), timeout=30
    )


CASES = [
    Case("empty text", "tts", _synthesize(text=""), INVALID, "the text is empty"),
    Case("white space only", "tts", _synthesize(text=" \n\t "), INVALID, "the text is empty"),
    Case("text over the limit", "tts", _synthesize(text="a" * 2001), INVALID, "the limit is 2000"),
    Case("punctuation only", "tts", _synthesize(text="?!..."), INVALID, "nothing to speak"),
    Case("control characters only", "tts", _synthesize(text="\x00\x01"), INVALID, "nothing"),
    Case(
        "Chinese text, English voice",
        "tts",
        _synthesize(text="你好，世界。"),
        INVALID,
        "(en-US) reads Latin script, but the text is mostly Chinese (Han)",
    ),
    Case(
        "Arabic text, English voice",
        "tts",
        _synthesize(text="مرحبا بالعالم", voice="en-gb"),
        INVALID,
        "the text is mostly Arabic",
    ),
    Case(
        "Cyrillic text, Croatian voice",
        "tts",
        _synthesize(text="Привет мир", voice="hr"),
        INVALID,
        "the text is mostly Cyrillic",
    ),
    Case(
        "unknown voice",
        "tts",
        _synthesize(text="Hi.", voice="nope"),
        grpc.StatusCode.NOT_FOUND,
        "unknown voice 'nope'; available voices: en-us",
    ),
    Case(
        "voice name of 100000 characters",
        "tts",
        _synthesize(text="Hi.", voice="v" * 100_000),
        grpc.StatusCode.NOT_FOUND,
        "unknown voice 'vvvv",
    ),
    Case(
        "unsupported sample rate (1 kHz)",
        "tts",
        _synthesize(text="Hi.", sample_rate=1000),
        INVALID,
        "sample_rate 1000 is outside 8000-192000 Hz",
    ),
    Case(
        "unsupported sample rate (4 GHz)",
        "tts",
        _synthesize(text="Hi.", sample_rate=4_000_000_000),
        INVALID,
        "is outside 8000-192000 Hz",
    ),
    Case(
        "speaker sample for a voice that cannot clone",
        "tts",
        _synthesize(text="Hi.", speaker_sample=b"RIFF\x00\x00\x00\x00WAVE"),
        grpc.StatusCode.FAILED_PRECONDITION,
        "cannot clone",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
async def test_bad_input_gets_a_clear_status(shared, case):
    await check_case(shared, case)


@pytest.mark.parametrize(
    ("voice", "text"),
    [
        ("zh", "你好，世界。"),
        ("ar", "مرحبا بالعالم"),
        ("en-us", "I flew to 東京 last spring."),  # a few foreign letters are read along
    ],
)
async def test_text_a_voice_can_read_is_spoken(shared, voice, text):
    request = tts_pb2.SynthesizeRequest(text=text, voice=voice)
    responses = [r async for r in shared.stubs.tts.Synthesize(request, timeout=30)]
    pcm = b"".join(r.audio.pcm for r in responses if r.HasField("audio"))
    samples = np.frombuffer(pcm, "<i2")
    assert responses[-1].end.duration_seconds > 0.5
    assert np.abs(samples).max() > 3000  # speech, not silence
