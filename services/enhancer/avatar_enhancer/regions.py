"""Enhancing only the parts of a frame that move, feathered into the rest.

High quality renders every frame from a still that was enhanced once; per frame only
the mouth and jaw (and the eyes) differ from it, so only they need the enhancer. A
:class:`RegionBlender` enhances each region with some context around it and blends it
in with a weight that is 1 inside the region and falls smoothly to 0 over
``FEATHER_PIXELS`` outside, so there is no seam; outside the feather every pixel is
the input's. The weights depend only on the frame size and the regions, so they are
computed once per stream and frame size, and the result is a pure function of the
frame: no flicker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from avatar_enhancer.engine import EnhancerError

MAX_REGIONS = 8
# Width of the smooth edge outside each region, pixels.
FEATHER_PIXELS = 10
# Pixels beyond the feather that the enhancer also sees, so its filters have context
# and their border effects fall where the weight is zero.
CONTEXT_PIXELS = 6


@dataclass(frozen=True, slots=True)
class Region:
    """A rectangle in frame pixels."""

    x: int
    y: int
    width: int
    height: int

    @classmethod
    def checked(cls, x: int, y: int, width: int, height: int) -> Region:
        """A region, or :class:`EnhancerError` when it is empty."""
        if width < 1 or height < 1:
            raise EnhancerError(
                f"a region needs a width and height of at least 1, got {width}x{height}"
            )
        return cls(x, y, width, height)


@dataclass(frozen=True, slots=True)
class _Patch:
    """One merged region on one frame size: where to crop and how to blend."""

    top: int
    bottom: int
    left: int
    right: int
    # Blend weight of the enhanced crop and of the input, float32, crop-sized.
    weight: np.ndarray
    rest: np.ndarray


class RegionBlender:
    """Enhances the regions of frames and feathers them into the unchanged rest.

    Args:
        regions: The parts of each frame to enhance (1 to ``MAX_REGIONS``).

    Raises:
        EnhancerError: No regions or too many.
    """

    def __init__(self, regions: Sequence[Region]) -> None:
        if not 1 <= len(regions) <= MAX_REGIONS:
            raise EnhancerError(f"send 1 to {MAX_REGIONS} regions, got {len(regions)}")
        self._regions = tuple(regions)
        self._patches: dict[tuple[int, int], list[_Patch]] = {}

    def apply(
        self,
        image: np.ndarray,
        enhance: Callable[[np.ndarray, tuple[int, int]], np.ndarray],
        *,
        in_place: bool = False,
    ) -> np.ndarray:
        """The frame with its regions enhanced.

        Args:
            image: The frame, height x width x 3, uint8.
            enhance: Enhances a crop of the frame; gets the crop and the crop's
                top-left corner (y, x) in the frame, returns an image of the crop's size.
            in_place: Blend into ``image`` itself (it must be writable) instead of into a
                copy: a caller that owns the frame saves copying it (a 512 px frame's copy
                costs as much as a tenth of the regions' work). The pixels are the same
                either way: the patches do not overlap, so no crop holds a pixel that an
                earlier patch wrote.
        """
        patches = self._patches_for(image.shape[0], image.shape[1])
        if not patches:
            return image
        out = image if in_place else image.copy()
        for patch in patches:
            crop = out[patch.top : patch.bottom, patch.left : patch.right]
            enhanced = enhance(crop, (patch.top, patch.left))
            if enhanced.shape != crop.shape:
                raise EnhancerError(
                    f"the backend changed a region's size from {crop.shape} to {enhanced.shape}"
                )
            # Written straight into the frame: blending is per pixel, so the crop can be
            # both an input and the output.
            cv2.blendLinear(
                np.ascontiguousarray(enhanced), crop, patch.weight, patch.rest, dst=crop
            )
        return out

    def _patches_for(self, height: int, width: int) -> list[_Patch]:
        key = (height, width)
        if key not in self._patches:
            self._patches[key] = _patches(self._regions, height, width)
        return self._patches[key]


def _patches(regions: Iterable[Region], height: int, width: int) -> list[_Patch]:
    """Regions grown by the feather and context, clipped, overlaps merged, with weights."""
    margin = FEATHER_PIXELS + CONTEXT_PIXELS
    boxes = []
    for region in regions:
        box = (
            max(0, region.y - margin),
            min(height, region.y + region.height + margin),
            max(0, region.x - margin),
            min(width, region.x + region.width + margin),
        )
        if box[0] < box[1] and box[2] < box[3]:
            boxes.append((box, [region]))
    merged = _merge_overlapping(boxes)
    return [_patch(box, members) for box, members in merged]


def _merge_overlapping(boxes: list) -> list:
    """Joins boxes that overlap into their bounding box, until none overlap."""
    boxes = list(boxes)
    changed = True
    while changed:
        changed = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                (a, members_a), (b, members_b) = boxes[i], boxes[j]
                if a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]:
                    union = (min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]))
                    boxes[i] = (union, members_a + members_b)
                    del boxes[j]
                    changed = True
                    break
            if changed:
                break
    return boxes


def _patch(box: tuple[int, int, int, int], members: list[Region]) -> _Patch:
    top, bottom, left, right = box
    rows = np.arange(top, bottom, dtype=np.float32)[:, None] + 0.5
    columns = np.arange(left, right, dtype=np.float32)[None, :] + 0.5
    weight = np.zeros((bottom - top, right - left), np.float32)
    for region in members:
        # Distance outside the rectangle along each axis (0 inside).
        dy = np.maximum(np.maximum(region.y - rows, rows - (region.y + region.height)), 0)
        dx = np.maximum(np.maximum(region.x - columns, columns - (region.x + region.width)), 0)
        distance = np.sqrt(dy * dy + dx * dx)
        ramp = np.clip(1.0 - distance / FEATHER_PIXELS, 0.0, 1.0)
        # Smoothstep: no visible kink where the feather starts or ends.
        weight = np.maximum(weight, ramp * ramp * (3.0 - 2.0 * ramp))
    return _Patch(top, bottom, left, right, weight, np.float32(1.0) - weight)
