"""Enhancing only the regions that move: the blender alone, then through the service."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from avatar.common.v1 import media_pb2
from avatar.enhancer.v1 import enhancer_pb2, enhancer_pb2_grpc
from avatar_core.config import ServerConfig
from avatar_core.frames import decode_frame, encode_frame
from avatar_core.server import running_server
from avatar_enhancer.config import EnhancerConfig
from avatar_enhancer.engine import EnhancerError, EnhanceSettings, OpenCvEnhancer
from avatar_enhancer.regions import FEATHER_PIXELS, MAX_REGIONS, Region, RegionBlender
from avatar_enhancer.servicer import create_service
from tests.support.races import refused


def _texture(seed: int = 0, size: int = 96) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    base = (np.sin(xx / 4.0) + np.cos(yy / 6.0)) * 50 + 120
    image = np.stack([base, base * 0.8, base * 0.6], -1) + rng.normal(0, 14, (size, size, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def _brighter(crop: np.ndarray, _corner) -> np.ndarray:
    return np.clip(crop.astype(np.int16) + 60, 0, 255).astype(np.uint8)


def test_only_the_region_and_its_feather_change():
    image = np.full((80, 100, 3), 100, np.uint8)
    region = Region(30, 20, 25, 15)
    out = RegionBlender([region]).apply(image, _brighter)
    changed = np.any(out != image, axis=2)
    rows, columns = np.nonzero(changed)
    assert rows.min() >= region.y - FEATHER_PIXELS and rows.max() < region.y + 15 + FEATHER_PIXELS
    assert columns.min() >= region.x - FEATHER_PIXELS
    assert columns.max() < region.x + 25 + FEATHER_PIXELS
    # Inside the region the enhancement is whole.
    assert np.all(out[region.y : region.y + 15, region.x : region.x + 25] == 160)


def test_the_feather_has_no_step():
    image = np.full((60, 120, 3), 100, np.uint8)
    out = RegionBlender([Region(40, 20, 30, 20)]).apply(image, _brighter)
    row = out[30, :, 0].astype(int)
    # From 100 to 160 over the feather: no jump between neighbours bigger than a
    # linear ramp's twice (smoothstep's steepest slope is 1.5x).
    assert np.abs(np.diff(row)).max() <= 2 * 60 / FEATHER_PIXELS
    assert row[0] == 100 and row[55] == 160


def test_overlapping_regions_are_enhanced_once():
    image = np.full((80, 80, 3), 100, np.uint8)
    calls = []

    def counted(crop, corner):
        calls.append(corner)
        return _brighter(crop, corner)

    out = RegionBlender([Region(20, 20, 20, 20), Region(30, 30, 20, 20)]).apply(image, counted)
    assert len(calls) == 1
    # Where both regions are, the pixel was brightened once, not twice.
    assert out[35, 35, 0] == 160


def test_the_opencv_backend_on_regions_matches_it_on_the_whole_frame_there():
    image = _texture()
    settings = EnhanceSettings()
    backend = OpenCvEnhancer()
    whole = backend.enhance(image, settings)
    region = Region(30, 40, 30, 25)
    regional = RegionBlender([region]).apply(image, lambda crop, _: backend.enhance(crop, settings))
    inside = (slice(40, 65), slice(30, 60))
    assert np.abs(regional[inside].astype(int) - whole[inside]).mean() < 1.0
    far = (slice(0, 15), slice(0, 96))
    assert np.array_equal(regional[far], image[far])


@pytest.mark.parametrize("count", [0, MAX_REGIONS + 1])
def test_too_few_or_too_many_regions_are_refused(count):
    with pytest.raises(EnhancerError, match="regions"):
        RegionBlender([Region(0, 0, 4, 4)] * count)


def test_an_empty_region_is_refused():
    with pytest.raises(EnhancerError, match="width and height"):
        Region.checked(5, 5, 0, 10)


@pytest.fixture
async def stub():
    config = EnhancerConfig(
        server=ServerConfig(service="enhancer", host="127.0.0.1", port=0, metrics_port=0)
    )
    async with (
        running_server(config.server, lambda registry: create_service(config, registry)) as server,
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        yield enhancer_pb2_grpc.EnhancerServiceStub(channel)


def _requests(config, frames):
    yield enhancer_pb2.EnhanceRequest(config=config)
    yield enhancer_pb2.EnhanceRequest(frames=media_pb2.FrameBatch(frames=frames, fps=25.0))
    yield enhancer_pb2.EnhanceRequest(end=enhancer_pb2.EnhanceInputEnd())


async def _enhanced(stub, config, frames) -> list[media_pb2.Frame]:
    responses = [response async for response in stub.Enhance(_requests(config, frames))]
    return [
        frame for r in responses if r.WhichOneof("event") == "frames" for frame in r.frames.frames
    ]


async def test_the_service_enhances_only_the_regions(stub):
    image = _texture(3)
    frames = [encode_frame(image, 7, media_pb2.FRAME_ENCODING_RGB24)]
    rgb = media_pb2.FRAME_ENCODING_RGB24
    regions = [enhancer_pb2.Region(x=30, y=40, width=30, height=25)]
    config = enhancer_pb2.EnhanceConfig(encoding=rgb, regions=regions)
    first = await _enhanced(stub, config, frames)
    again = await _enhanced(stub, config, frames)
    whole = await _enhanced(stub, enhancer_pb2.EnhanceConfig(encoding=rgb), frames)
    assert [frame.index for frame in first] == [7]
    out, full = decode_frame(first[0]), decode_frame(whole[0])
    assert np.array_equal(out[:15], image[:15])  # far from the region: untouched
    assert np.abs(out[40:65, 30:60].astype(int) - full[40:65, 30:60]).mean() < 1.0
    assert not np.array_equal(out[40:65, 30:60], image[40:65, 30:60])
    assert first[0].data == again[0].data  # deterministic


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            enhancer_pb2.EnhanceConfig(regions=[enhancer_pb2.Region(x=1, y=1, width=0, height=5)]),
            "width and height",
        ),
        (
            enhancer_pb2.EnhanceConfig(
                upscale=2, regions=[enhancer_pb2.Region(x=1, y=1, width=5, height=5)]
            ),
            "upscale",
        ),
        (
            enhancer_pb2.EnhanceConfig(
                regions=[enhancer_pb2.Region(x=1, y=1, width=5, height=5)] * (MAX_REGIONS + 1)
            ),
            "regions",
        ),
    ],
)
async def test_bad_regions_get_invalid_argument(stub, config, message):
    frames = [encode_frame(_texture(), 0, media_pb2.FRAME_ENCODING_RGB24)]
    error = await refused(lambda: _enhanced(stub, config, frames))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in error.details()


def test_blending_in_place_gives_the_same_frame_and_writes_into_it():
    image = _texture(5)
    # Two patches apart and two that merge: every patch's crop must still be the input's.
    blender = RegionBlender([Region(5, 5, 20, 15), Region(60, 60, 20, 20), Region(70, 70, 15, 15)])
    backend = OpenCvEnhancer()

    def enhance(crop, _corner):
        return backend.enhance(crop, EnhanceSettings())

    copied = blender.apply(image, enhance)
    own = image.copy()
    in_place = blender.apply(own, enhance, in_place=True)
    assert in_place is own
    assert np.array_equal(in_place, copied)
    assert not np.array_equal(copied, image)
