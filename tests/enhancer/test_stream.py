"""One stream's batches: split over the workers, back in order, the same at any split."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from avatar.common.v1 import media_pb2
from avatar_core.frames import decode_frame, encode_frame
from avatar_enhancer.engine import EnhanceSettings, OpenCvEnhancer
from avatar_enhancer.faces import FaceLocator
from avatar_enhancer.metrics import EnhancerMetrics
from avatar_enhancer.regions import Region, RegionBlender
from avatar_enhancer.stream import EnhanceStream

RGB24 = media_pb2.FRAME_ENCODING_RGB24


def _batch(count: int) -> media_pb2.FrameBatch:
    rng = np.random.default_rng(4)
    frames = [
        encode_frame(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8), 10 + i, RGB24)
        for i in range(count)
    ]
    return media_pb2.FrameBatch(frames=frames, fps=25.0)


async def _enhanced(batch: media_pb2.FrameBatch, jobs: int, encoding: int) -> list:
    with ThreadPoolExecutor(2) as executor:
        stream = EnhanceStream(
            OpenCvEnhancer(),
            EnhanceSettings(),
            executor,
            EnhancerMetrics(CollectorRegistry()),
            FaceLocator(),
            RegionBlender([Region(8, 8, 16, 12)]),
            jobs=jobs,
        )
        return await stream.enhance(batch, [], encoding, 90)


@pytest.mark.parametrize("count", [1, 2, 5, 7])
async def test_any_split_gives_every_frame_back_in_order_and_alike(count):
    batch = _batch(count)
    alone = await _enhanced(batch, 1, RGB24)
    for jobs in (2, 3, 16):
        split = await _enhanced(batch, jobs, RGB24)
        assert [frame.index for frame in split] == [10 + i for i in range(count)]
        assert [frame.data for frame in split] == [frame.data for frame in alone]
    # The regions changed; the frames that came in are left as they were.
    first_in, first_out = decode_frame(batch.frames[0]), decode_frame(alone[0])
    assert not np.array_equal(first_in[8:20, 8:24], first_out[8:20, 8:24])
    assert batch.frames[0].data == _batch(count).frames[0].data


async def test_jpeg_frames_come_back_as_jpeg_changed_only_near_the_region():
    yy, xx = np.mgrid[0:40, 0:48]
    image = np.stack([xx * 4, yy * 5, 255 - xx * 3], -1).astype(np.uint8)
    batch = media_pb2.FrameBatch(frames=[encode_frame(image, 3, media_pb2.FRAME_ENCODING_JPEG)])
    (out,) = await _enhanced(batch, 2, media_pb2.FRAME_ENCODING_JPEG)
    assert out.index == 3 and out.encoding == media_pb2.FRAME_ENCODING_JPEG
    decoded, source = decode_frame(out).astype(int), decode_frame(batch.frames[0])
    assert decoded.shape == image.shape
    # The region (8, 8, 16 x 12) and its feather end at row 30: below, only the
    # re-encode differs.
    assert np.abs(decoded[32:] - source[32:]).mean() < 2
