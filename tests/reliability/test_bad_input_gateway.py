"""Bad input to the public API: each gets a clear status and the gateway keeps serving."""

from __future__ import annotations

import math

import grpc
import numpy as np
import pytest

from avatar.common.v1 import media_pb2
from avatar.gateway.v1 import gateway_pb2
from tests.reliability.conftest import IMAGE_CAP_BYTES
from tests.reliability.harness import PHOTO, Case, assert_still_serving, check_case
from tests.reliability.inputs import (
    NOT_AN_IMAGE,
    TRUNCATED_JPEG,
    faceless_photo,
    padded_jpeg,
    peak_rss_bytes,
    png_bomb,
    reset_peak_rss,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
UNKNOWN_ID = "0123456789abcdef"


def _create(image: bytes, display_name: str = ""):
    def call(shared):
        request = gateway_pb2.CreateAvatarRequest(image=image, display_name=display_name)
        return shared.stubs.gateway.CreateAvatar(request, timeout=60)

    return call


def _speak(**fields):
    def call(shared):
        request = gateway_pb2.SpeakRequest(**{"avatar_id": shared.avatar_id, **fields})
        return shared.stubs.gateway.Speak(request, timeout=60)

    return call


CASES = [
    Case("empty photo", "gateway", _create(b""), INVALID, "image is empty"),
    Case("not an image", "gateway", _create(NOT_AN_IMAGE), INVALID, "not an image"),
    Case("truncated JPEG", "gateway", _create(TRUNCATED_JPEG), INVALID, "truncated or corrupt"),
    Case("20000x20000 PNG", "gateway", _create(png_bomb()), INVALID, "megapixels"),
    Case(
        "photo over the byte cap",
        "gateway",
        _create(padded_jpeg(IMAGE_CAP_BYTES + 1)),
        INVALID,
        f"the limit is {IMAGE_CAP_BYTES} bytes",
    ),
    Case("no face", "gateway", _create(faceless_photo()), INVALID, "no face found"),
    Case(
        "display name of 10000 characters",
        "gateway",
        _create(PHOTO, "x" * 10_000),
        INVALID,
        "display_name is 10000 characters",
    ),
    Case(
        "unknown avatar (GetAvatar)",
        "gateway",
        lambda s: s.stubs.gateway.GetAvatar(gateway_pb2.GetAvatarRequest(avatar_id=UNKNOWN_ID)),
        NOT_FOUND,
        "unknown avatar",
    ),
    Case(
        "malformed avatar id (GetAvatar)",
        "gateway",
        lambda s: s.stubs.gateway.GetAvatar(gateway_pb2.GetAvatarRequest(avatar_id="../x")),
        NOT_FOUND,
        "16 lowercase hexadecimal digits",
    ),
    Case(
        "unknown avatar (DeleteAvatar)",
        "gateway",
        lambda s: s.stubs.gateway.DeleteAvatar(
            gateway_pb2.DeleteAvatarRequest(avatar_id=UNKNOWN_ID)
        ),
        NOT_FOUND,
        "unknown avatar",
    ),
    Case("empty text", "gateway", _speak(text=""), INVALID, "text is empty"),
    Case("white space only", "gateway", _speak(text=" \n\t "), INVALID, "text is empty"),
    Case("text over the limit", "gateway", _speak(text="a" * 2001), INVALID, "the limit is 2000"),
    Case("punctuation only", "gateway", _speak(text="..."), INVALID, "nothing to speak"),
    Case("emoji only", "gateway", _speak(text="😀😀"), INVALID, "nothing to speak"),
    Case(
        "Chinese text, English voice",
        "gateway",
        _speak(text="你好，世界。"),
        INVALID,
        "(en-US) reads Latin script, but the text is mostly Chinese",
    ),
    Case(
        "Arabic text, English voice",
        "gateway",
        _speak(text="مرحبا بالعالم"),
        INVALID,
        "the text is mostly Arabic",
    ),
    Case(
        "unknown avatar (Speak)",
        "gateway",
        _speak(avatar_id=UNKNOWN_ID, text="Hi."),
        NOT_FOUND,
        "create it with CreateAvatar",
    ),
    Case(
        "unknown voice",
        "gateway",
        _speak(text="Hi.", voice="nope"),
        NOT_FOUND,
        "tts stage: unknown voice 'nope'",
    ),
    Case(
        "voice name of 500 characters",
        "gateway",
        _speak(text="Hi.", voice="v" * 500),
        INVALID,
        "voice is 500",
    ),
    Case("fps NaN", "gateway", _speak(text="Hi.", fps=math.nan), INVALID, "fps must be"),
    Case("fps 0.001", "gateway", _speak(text="Hi.", fps=0.001), INVALID, "fps must be"),
    Case("fps 61", "gateway", _speak(text="Hi.", fps=61), INVALID, "fps must be"),
    Case("unknown mode", "gateway", _speak(text="Hi.", mode=9), INVALID, "mode 9 is unknown"),
    Case("unknown quality", "gateway", _speak(text="Hi.", quality=9), INVALID, "quality 9"),
    Case(
        "unknown frame encoding",
        "gateway",
        _speak(text="Hi.", frame_encoding=9),
        INVALID,
        "frame_encoding 9 is unknown",
    ),
    Case(
        "motion setting NaN",
        "gateway",
        _speak(text="Hi.", motion=media_pb2.MotionSettings(head_motion=math.nan)),
        INVALID,
        "motion.head_motion must be a finite number",
    ),
    Case(
        "motion setting the animator refuses",
        "gateway",
        _speak(text="Hi.", motion=media_pb2.MotionSettings(articulation=25)),
        INVALID,
        "animator stage: articulation must be",
    ),
    Case(
        "conversation id of 1000 characters",
        "gateway",
        _speak(text="Why?", mode=gateway_pb2.SPEAK_MODE_CHAT, conversation_id="c" * 1000),
        INVALID,
        "conversation_id is 1000 characters",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
async def test_bad_input_gets_a_clear_status(shared, case):
    await check_case(shared, case)


@pytest.mark.parametrize(("voice", "text"), [("zh", "你好，世界。"), ("ar", "مرحبا بالعالم")])
async def test_a_voice_of_the_texts_language_speaks_it(shared, voice, text):
    request = gateway_pb2.SpeakRequest(avatar_id=shared.avatar_id, text=text, voice=voice)
    pcm, frames = bytearray(), 0
    async for event in shared.stubs.gateway.Speak(request, timeout=60):
        if event.HasField("audio"):
            pcm += event.audio.pcm
            rate = event.audio.sample_rate
        frames += len(event.frames.frames)
    samples = np.frombuffer(bytes(pcm), "<i2")
    assert len(samples) / rate > 0.5 and np.abs(samples).max() > 3000
    assert frames == round(len(samples) / rate * 25)


async def test_image_bombs_are_refused_without_a_large_allocation(shared):
    bomb = png_bomb()  # 48 kB; decoding it would take 400 MB, 1.2 GB as RGB
    reset_peak_rss()
    before = peak_rss_bytes()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await shared.stubs.gateway.CreateAvatar(gateway_pb2.CreateAvatarRequest(image=bomb))
    assert caught.value.code() == INVALID
    assert peak_rss_bytes() - before < 64 * 1024 * 1024
    await assert_still_serving(shared.stack, "gateway")
