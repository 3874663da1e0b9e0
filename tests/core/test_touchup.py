"""The shared touch-up: the filter on regions of a frame, feathered in, and its bad settings."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from avatar_core import touchup as touchup_module
from avatar_core.touchup import (
    FEATHER_PIXELS,
    MAX_REGIONS,
    Region,
    RegionBlender,
    RegionTouchup,
    TouchupError,
    check_fidelity,
    denoise_and_sharpen,
)
from avatar_devtools.samples import sample_face


def _photo_like(seed: int = 0, size: int = 120) -> np.ndarray:
    """A crop of the sample face, with a little noise of ``seed`` (JPEG-like grain)."""
    photo = cv2.imdecode(np.frombuffer(sample_face(), np.uint8), cv2.IMREAD_COLOR)
    height, width = photo.shape[:2]
    side = min(height, width) // 2
    crop = photo[height // 4 : height // 4 + side, width // 4 : width // 4 + side]
    image = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    image += np.random.default_rng(seed).normal(0, 6, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def test_the_touchup_is_the_filter_inside_its_regions_and_nothing_beyond_the_feather():
    image = _photo_like()
    region = Region(30, 40, 35, 25)
    out = RegionTouchup([region], fidelity=0.5).apply(image.copy())
    whole = denoise_and_sharpen(image, 0.5)
    inside = (slice(region.y, region.y + region.height), slice(region.x, region.x + region.width))
    # Inside, the filter of the crop with its context: the whole frame's filter but for
    # rounding where the crop's own border reaches.
    assert np.abs(out[inside].astype(int) - whole[inside]).mean() < 1.0
    assert np.abs(out[inside].astype(int) - image[inside]).mean() > 2.0
    changed = np.any(out != image, axis=2)
    rows, columns = np.nonzero(changed)
    assert rows.min() >= region.y - FEATHER_PIXELS
    assert rows.max() < region.y + region.height + FEATHER_PIXELS
    assert columns.min() >= region.x - FEATHER_PIXELS
    assert columns.max() < region.x + region.width + FEATHER_PIXELS


def test_a_writable_frame_is_touched_up_in_place_and_a_read_only_one_is_not():
    image = _photo_like(1)
    touchup = RegionTouchup([Region(10, 10, 40, 40)])
    own = image.copy()
    assert touchup.apply(own) is own
    frozen = image.copy()
    frozen.flags.writeable = False
    out = touchup.apply(frozen)
    assert out is not frozen and np.array_equal(frozen, image)
    assert np.array_equal(out, own)


def test_the_same_frame_gives_the_same_pixels_every_time():
    image = _photo_like(2)
    regions = [Region(5, 5, 30, 20), Region(60, 50, 40, 40)]
    first = RegionTouchup(regions).apply(image.copy())
    again = RegionTouchup(regions).apply(image.copy())
    assert np.array_equal(first, again)


def test_a_lower_fidelity_touches_up_more_strongly():
    image = _photo_like(3)
    region = [Region(20, 20, 60, 60)]
    gentle = RegionTouchup(region, fidelity=0.9).apply(image.copy())
    strong = RegionTouchup(region, fidelity=0.1).apply(image.copy())
    assert np.abs(strong.astype(int) - image).mean() > np.abs(gentle.astype(int) - image).mean()


@pytest.mark.parametrize("fidelity", [-0.1, 1.5, math.nan, math.inf])
def test_a_fidelity_outside_0_to_1_is_refused(fidelity):
    with pytest.raises(TouchupError, match="fidelity must be between 0 and 1"):
        check_fidelity(fidelity)
    with pytest.raises(TouchupError, match="fidelity"):
        RegionTouchup([Region(0, 0, 4, 4)], fidelity=fidelity)


@pytest.mark.parametrize("count", [0, MAX_REGIONS + 1])
def test_too_few_or_too_many_regions_are_refused(count):
    with pytest.raises(TouchupError, match=f"send 1 to {MAX_REGIONS} regions, got {count}"):
        RegionTouchup([Region(0, 0, 4, 4)] * count)


def test_an_empty_region_is_refused():
    with pytest.raises(TouchupError, match="width and height of at least 1, got 0x10"):
        Region.checked(5, 5, 0, 10)


def test_an_enhancement_of_another_size_is_refused():
    blender = RegionBlender([Region(10, 10, 20, 20)])
    with pytest.raises(TouchupError, match="size"):
        blender.apply(_photo_like(), lambda crop, _corner: crop[:-1])


def test_regions_outside_the_frame_change_nothing():
    image = _photo_like(4)
    out = RegionTouchup([Region(500, 500, 20, 20)]).apply(image.copy())
    assert np.array_equal(out, image)


@pytest.mark.parametrize("seed", range(6))
def test_blending_only_the_feathers_gives_the_pixels_of_one_blend_of_the_whole_crop(seed):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (90, 130, 3), dtype=np.uint8)
    # Overlapping regions (merged into one patch), and some cut by the frame's edges.
    regions = [
        Region(
            int(rng.integers(0, 120)), int(rng.integers(0, 80)), *map(int, rng.integers(1, 50, 2))
        )
        for _ in range(int(rng.integers(2, MAX_REGIONS + 1)))
    ]

    def inverted(crop, _corner):
        return 255 - crop

    out = RegionBlender(regions).apply(image, inverted)
    expected = image.copy()
    for patch in touchup_module._patches(regions, *image.shape[:2]):
        crop = expected[patch.top : patch.bottom, patch.left : patch.right]
        cv2.blendLinear(255 - crop, crop.copy(), patch.weight, patch.rest, dst=crop)
    assert np.array_equal(out, expected)
