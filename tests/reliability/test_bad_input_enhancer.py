"""Bad input to the enhancer: clear statuses, and the service keeps serving."""

from __future__ import annotations

import math

import grpc
import pytest

from avatar.common.v1 import media_pb2
from avatar.enhancer.v1 import enhancer_pb2
from tests.reliability.harness import (
    Case,
    assert_still_serving,
    check_case,
    enhance_requests,
    settled_outcome,
    small_frame_batch,
)
from tests.reliability.inputs import (
    NOT_AN_IMAGE,
    TRUNCATED_JPEG,
    jpeg_claiming,
    peak_rss_bytes,
    png_bomb,
    reset_peak_rss,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

INVALID = grpc.StatusCode.INVALID_ARGUMENT
RGB24 = media_pb2.FRAME_ENCODING_RGB24
CONFIG = enhancer_pb2.EnhanceRequest(config=enhancer_pb2.EnhanceConfig())
END = enhancer_pb2.EnhanceRequest(end=enhancer_pb2.EnhanceInputEnd())


def _enhance(*requests: enhancer_pb2.EnhanceRequest):
    return lambda shared: shared.stubs.enhancer.Enhance(iter(requests), timeout=30)


def _with_config(**fields):
    config = enhancer_pb2.EnhanceRequest(config=enhancer_pb2.EnhanceConfig(**fields))
    batch = enhancer_pb2.EnhanceRequest(frames=small_frame_batch())
    return _enhance(config, batch, END)


def _frame(**fields):
    batch = media_pb2.FrameBatch(frames=[media_pb2.Frame(**fields)], fps=25.0)
    return _enhance(*enhance_requests(enhancer_pb2.EnhanceRequest(frames=batch)))


CASES = [
    Case(
        "frames before config",
        "enhancer",
        _enhance(enhancer_pb2.EnhanceRequest(frames=small_frame_batch()), CONFIG, END),
        INVALID,
        "the first message must be config, got frames",
    ),
    Case("config twice", "enhancer", _enhance(CONFIG, CONFIG, END), INVALID, "config sent twice"),
    Case("empty stream", "enhancer", _enhance(), INVALID, "empty stream: send config first"),
    Case("no end", "enhancer", _enhance(CONFIG), INVALID, "stream closed without end"),
    Case(
        "unknown backend",
        "enhancer",
        _with_config(backend="codeformer"),
        grpc.StatusCode.NOT_FOUND,
        "unknown enhancer backend 'codeformer'; available: opencv",
    ),
    Case("upscale 3", "enhancer", _with_config(upscale=3), INVALID, "upscale must be 1 or 2"),
    Case("fidelity 5", "enhancer", _with_config(fidelity=5), INVALID, "between 0 and 1"),
    Case("fidelity NaN", "enhancer", _with_config(fidelity=math.nan), INVALID, "got nan"),
    Case("output encoding 9", "enhancer", _with_config(encoding=9), INVALID, "encoding 9"),
    Case("JPEG quality 500", "enhancer", _with_config(jpeg_quality=500), INVALID, "1-100"),
    Case(
        "RGB24 frame of the wrong size",
        "enhancer",
        _frame(data=bytes(10), width=4, height=4, encoding=RGB24),
        INVALID,
        "RGB24 data is 10 bytes, expected 48 for 4x4",
    ),
    Case(
        "RGB24 frame claiming 100000x100000",
        "enhancer",
        _frame(data=bytes(12), width=100_000, height=100_000, encoding=RGB24),
        INVALID,
        "100000x100000 is over the limit",
    ),
    Case(
        "JPEG of another size than the frame states",
        "enhancer",
        _frame(data=small_frame_batch().frames[0].data, width=640, height=480),
        INVALID,
        "the JPEG is 64x64 but the frame says 640x480",
    ),
    Case(
        "unknown frame encoding",
        "enhancer",
        _frame(data=b"x", encoding=9),
        INVALID,
        "unknown encoding 9",
    ),
    Case("garbage frame", "enhancer", _frame(data=NOT_AN_IMAGE), INVALID, "not a valid JPEG"),
    Case("truncated JPEG frame", "enhancer", _frame(data=TRUNCATED_JPEG), INVALID, "not a valid"),
    Case("PNG bomb as a frame", "enhancer", _frame(data=png_bomb()), INVALID, "not a valid JPEG"),
    Case(
        "JPEG frame claiming 30000x20000",
        "enhancer",
        _frame(data=jpeg_claiming(30_000, 20_000)),
        INVALID,
        "the JPEG is 30000x20000, over the limit",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
async def test_bad_input_gets_a_clear_status(shared, case):
    await check_case(shared, case)


@pytest.mark.parametrize(
    "data", [png_bomb(), jpeg_claiming(30_000, 20_000)], ids=["PNG 20000x20000", "JPEG 30000x20000"]
)
async def test_frame_bombs_are_refused_without_a_large_allocation(shared, data):
    batch = media_pb2.FrameBatch(frames=[media_pb2.Frame(data=data)], fps=25.0)
    requests = enhance_requests(enhancer_pb2.EnhanceRequest(frames=batch))
    reset_peak_rss()
    before = peak_rss_bytes()
    code, _ = await settled_outcome(lambda: shared.stubs.enhancer.Enhance(iter(requests)))
    assert code == INVALID
    assert peak_rss_bytes() - before < 64 * 1024 * 1024  # decoding would take gigabytes
    await assert_still_serving(shared.stack, "enhancer")
