"""Bad input to the animator: clear statuses, and the service keeps serving."""

from __future__ import annotations

import math

import grpc
import pytest

from avatar.animator.v1 import animator_pb2
from avatar.common.v1 import media_pb2
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
from tests.support.races import paced

pytestmark = pytest.mark.asyncio(loop_scope="session")

INVALID = grpc.StatusCode.INVALID_ARGUMENT
RATE = 16_000
END = animator_pb2.AnimateRequest(end=animator_pb2.AnimateInputEnd())


def _prepare(image: bytes):
    return lambda shared: shared.stubs.animator.PrepareAvatar(
        animator_pb2.PrepareAvatarRequest(image=image), timeout=30
    )


def _config(**fields) -> animator_pb2.AnimateRequest:
    return animator_pb2.AnimateRequest(config=animator_pb2.AnimateConfig(**fields))


def _audio(seconds: float = 0.1, offset: int = 0, rate: int = 0, odd: bool = False):
    pcm = bytes(2 * round(seconds * RATE) + (1 if odd else 0))
    chunk = media_pb2.AudioChunk(pcm=pcm, sample_rate=rate, sample_offset=offset)
    return animator_pb2.AnimateRequest(audio=chunk)


def _phoneme(start: float, end: float) -> animator_pb2.AnimateRequest:
    track = media_pb2.TimingTrack(
        phonemes=[media_pb2.Phoneme(symbol="a", start_seconds=start, end_seconds=end)]
    )
    return animator_pb2.AnimateRequest(timings=track)


def _animate(*requests, with_config: bool = True, **config):
    """An Animate stream: a config message (``config`` fields over the prepared photo's
    hash at 16 kHz; None drops a field), then ``requests``."""

    def call(shared):
        messages = list(requests)
        if with_config:
            fields = {"content_hash": shared.content_hash, "sample_rate": RATE, **config}
            messages.insert(0, _config(**{k: v for k, v in fields.items() if v is not None}))
        return shared.stubs.animator.Animate(paced(messages), timeout=30)

    return call


CASES = [
    Case("empty photo", "animator", _prepare(b""), INVALID, "image is empty"),
    Case("not an image", "animator", _prepare(NOT_AN_IMAGE), INVALID, "not an image"),
    Case("truncated JPEG", "animator", _prepare(TRUNCATED_JPEG), INVALID, "truncated or corrupt"),
    Case("20000x20000 PNG", "animator", _prepare(png_bomb()), INVALID, "megapixels"),
    Case(
        "photo over the byte cap",
        "animator",
        _prepare(padded_jpeg(IMAGE_CAP_BYTES + 1)),
        INVALID,
        f"the limit is {IMAGE_CAP_BYTES} bytes",
    ),
    Case("no face", "animator", _prepare(faceless_photo()), INVALID, "no face found"),
    Case(
        "audio before config",
        "animator",
        _animate(_audio(), _config(sample_rate=RATE), END, with_config=False),
        INVALID,
        "the first message must be config, got audio",
    ),
    Case(
        "config twice",
        "animator",
        _animate(_config(sample_rate=RATE), END),
        INVALID,
        "config sent twice",
    ),
    Case(
        "empty stream",
        "animator",
        _animate(with_config=False),
        INVALID,
        "empty stream: send config first",
    ),
    Case("no end", "animator", _animate(_audio()), INVALID, "stream closed without end"),
    Case(
        "empty message",
        "animator",
        _animate(animator_pb2.AnimateRequest(), END),
        INVALID,
        "empty message in stream",
    ),
    Case(
        "unknown content hash, no image",
        "animator",
        _animate(END, content_hash="ab" * 32),
        grpc.StatusCode.FAILED_PRECONDITION,
        "is not prepared on this server: send the image",
    ),
    Case(
        "content hash of another image",
        "animator",
        _animate(END, content_hash="ab" * 32, image=PHOTO),
        INVALID,
        "content_hash is not the SHA-256 of the image",
    ),
    Case(
        "config image without a face",
        "animator",
        _animate(END, content_hash=None, image=faceless_photo()),
        INVALID,
        "no face found",
    ),
    Case(
        "config image is a 20000x20000 PNG",
        "animator",
        _animate(END, content_hash=None, image=png_bomb()),
        INVALID,
        "megapixels",
    ),
    Case(
        "audio at 100 Hz",
        "animator",
        _animate(_audio(), END, sample_rate=100),
        INVALID,
        "sample_rate must be 4000-192000 Hz, got 100",
    ),
    Case(
        "audio chunk at another rate than the stream",
        "animator",
        _animate(_audio(rate=8000), END),
        INVALID,
        "audio chunk at 8000 Hz in a 16000 Hz stream",
    ),
    Case(
        "odd number of PCM bytes",
        "animator",
        _animate(_audio(odd=True), END),
        INVALID,
        "odd number of bytes",
    ),
    Case(
        "overlapping audio",
        "animator",
        _animate(_audio(0.2), _audio(0.1, offset=100), END),
        INVALID,
        "overlaps earlier audio",
    ),
    Case(
        "audio beyond the length limit",
        "animator",
        _animate(_audio(offset=2**63), END),
        INVALID,
        "utterance longer than the",
    ),
    Case(
        "unknown frame encoding",
        "animator",
        _animate(END, encoding=9),
        INVALID,
        "unknown frame encoding 9",
    ),
    Case("JPEG quality 101", "animator", _animate(END, jpeg_quality=101), INVALID, "1-100"),
    Case("batch of 1000 frames", "animator", _animate(END, batch_size=1000), INVALID, "batch_size"),
    Case("fps NaN", "animator", _animate(_audio(), END, fps=math.nan), INVALID, "fps must be"),
    Case("fps 1e9", "animator", _animate(_audio(), END, fps=1e9), INVALID, "fps must be"),
    Case(
        "motion setting NaN",
        "animator",
        _animate(END, motion=media_pb2.MotionSettings(blinks_per_minute=math.nan)),
        INVALID,
        "blinks_per_minute must be",
    ),
    Case(
        "phoneme with a NaN time",
        "animator",
        _animate(_phoneme(math.nan, 1.0), _audio(), END),
        INVALID,
        "non-finite time",
    ),
    Case(
        "phoneme ending before it starts",
        "animator",
        _animate(_phoneme(0.5, 0.1), _audio(), END),
        INVALID,
        "invalid span",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
async def test_bad_input_gets_a_clear_status(shared, case):
    await check_case(shared, case)


async def test_image_bombs_are_refused_without_a_large_allocation(shared):
    bomb = png_bomb()
    reset_peak_rss()
    before = peak_rss_bytes()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await shared.stubs.animator.PrepareAvatar(animator_pb2.PrepareAvatarRequest(image=bomb))
    assert caught.value.code() == INVALID
    assert peak_rss_bytes() - before < 64 * 1024 * 1024
    await assert_still_serving(shared.stack, "animator")
