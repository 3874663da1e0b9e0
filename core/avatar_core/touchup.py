"""The OpenCV touch-up of frames, and blending it into the parts of a frame that move.

One filter, shared by the enhancer (its ``opencv`` backend, on whole frames or on
regions) and the animator (high quality's per-frame touch-up of the moving regions,
right before its JPEG encode, when the avatar's still was enhanced with ``opencv``):

* :func:`denoise_and_sharpen`: an edge-preserving bilateral denoise, an unsharp mask
  and an optional 2x bicubic upscale; ``fidelity`` (0-1, CodeFormer's *w*) trades
  faithfulness to the input against strength. A pure function of the frame: no flicker.
* :class:`RegionBlender`: applies any such function to rectangles of a frame, each with
  some context around it, and blends the result in with a weight that is 1 inside the
  rectangle and falls smoothly to 0 over :data:`FEATHER_PIXELS` outside, so there is no
  seam; every pixel farther out stays as it was. The weights depend only on the frame
  size and the regions: computed once per size, the same for every frame.
* :class:`RegionTouchup`: the two together, for a caller that owns its frames.

Bad settings raise :class:`TouchupError` (a ``ValueError``) with a message for the caller.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

DEFAULT_FIDELITY = 0.7
"""The fidelity of a touch-up that names none (the thesis's CodeFormer *w*)."""

MAX_REGIONS = 8
"""Most regions one blender takes."""

FEATHER_PIXELS = 10
"""Width of the smooth edge outside each region, pixels."""

CONTEXT_PIXELS = 6
"""Pixels beyond the feather that the filter also sees, so it has context there and its
border effects fall where the weight is zero."""


class TouchupError(ValueError):
    """A touch-up cannot be done with these settings (fidelity, scale, regions)."""


def check_fidelity(fidelity: float) -> float:
    """Returns ``fidelity`` when it lies in 0-1, else raises :class:`TouchupError`."""
    if not (math.isfinite(fidelity) and 0.0 <= fidelity <= 1.0):
        raise TouchupError(f"fidelity must be between 0 and 1, got {fidelity}")
    return float(fidelity)


def denoise_and_sharpen(rgb: np.ndarray, fidelity: float, upscale: int = 1) -> np.ndarray:
    """The frame denoised and sharpened (and upscaled when asked), a new RGB uint8 image.

    Args:
        rgb: The image, height x width x 3, uint8.
        fidelity: 0-1: higher stays closer to the input, lower denoises and sharpens
            more strongly.
        upscale: 1 keeps the size, 2 doubles width and height (bicubic).
    """
    strength = 1.0 - fidelity
    # A bilateral filter smooths compression noise but keeps edges (lips, eyes).
    sigma_color = 10.0 + 50.0 * strength
    denoised = cv2.bilateralFilter(rgb, d=5, sigmaColor=sigma_color, sigmaSpace=3.0)
    if upscale == 2:
        height, width = denoised.shape[:2]
        denoised = cv2.resize(denoised, (width * 2, height * 2), interpolation=cv2.INTER_CUBIC)
    # Unsharp mask: add back the detail a small blur removes.
    amount = 0.4 + 1.2 * strength
    blurred = gaussian_blur(denoised, 1.2 * upscale)
    return cv2.addWeighted(denoised, 1.0 + amount, blurred, -amount, 0)


def gaussian_blur(rgb: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur of an 8-bit image, as ``cv2.GaussianBlur(rgb, (0, 0), sigma)``.

    The same kernel and border, applied with ``cv2.sepFilter2D``: on frames 3% of the
    values differ from OpenCV's bit-exact 8-bit Gaussian path, by one level (two at most,
    on noise), in about a third of its time.
    """
    kernel = _gaussian_kernel(sigma)
    return cv2.sepFilter2D(rgb, -1, kernel, kernel)


@lru_cache(maxsize=8)
def _gaussian_kernel(sigma: float) -> np.ndarray:
    # OpenCV's own size for 8-bit images: 3 sigma each side, odd.
    size = int(round(sigma * 6 + 1)) | 1
    return cv2.getGaussianKernel(size, sigma, cv2.CV_32F)


@dataclass(frozen=True, slots=True)
class Region:
    """A rectangle in frame pixels."""

    x: int
    y: int
    width: int
    height: int

    @classmethod
    def checked(cls, x: int, y: int, width: int, height: int) -> Region:
        """A region, or :class:`TouchupError` when it is empty."""
        if width < 1 or height < 1:
            raise TouchupError(
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
    # Where the weight lies between 0 and 1 (the feathers) and where it is 1 (the
    # regions), as (rows, columns) slices of the crop: only the feathers need blending.
    feathers: tuple[tuple[slice, slice], ...]
    insides: tuple[tuple[slice, slice], ...]
    # Whether it merges several regions, whose feathers may overlap.
    merged: bool


class RegionBlender:
    """Enhances the regions of frames and feathers them into the unchanged rest.

    Args:
        regions: The parts of each frame to enhance (1 to :data:`MAX_REGIONS`).

    Raises:
        TouchupError: No regions or too many.
    """

    def __init__(self, regions: Sequence[Region]) -> None:
        if not 1 <= len(regions) <= MAX_REGIONS:
            raise TouchupError(f"send 1 to {MAX_REGIONS} regions, got {len(regions)}")
        self._regions = tuple(regions)
        self._patches: dict[tuple[int, int], list[_Patch]] = {}

    @property
    def regions(self) -> tuple[Region, ...]:
        """The regions, as given."""
        return self._regions

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

        Raises:
            TouchupError: ``enhance`` returned an image of another size.
        """
        patches = self._patches_for(image.shape[0], image.shape[1])
        if not patches:
            return image
        out = image if in_place else image.copy()
        for patch in patches:
            crop = out[patch.top : patch.bottom, patch.left : patch.right]
            enhanced = enhance(crop, (patch.top, patch.left))
            if enhanced.shape != crop.shape:
                raise TouchupError(
                    f"the backend changed a region's size from {crop.shape} to {enhanced.shape}"
                )
            _blend(np.ascontiguousarray(enhanced), crop, patch)
        return out

    def _patches_for(self, height: int, width: int) -> list[_Patch]:
        key = (height, width)
        if key not in self._patches:
            self._patches[key] = _patches(self._regions, height, width)
        return self._patches[key]


class RegionTouchup:
    """:func:`denoise_and_sharpen` on the regions of frames, feathered into the rest.

    Args:
        regions: The parts of each frame to touch up (1 to :data:`MAX_REGIONS`).
        fidelity: 0-1, as in :func:`denoise_and_sharpen`.

    Raises:
        TouchupError: No regions, too many, or a fidelity outside 0-1.
    """

    def __init__(self, regions: Sequence[Region], fidelity: float = DEFAULT_FIDELITY) -> None:
        self.fidelity = check_fidelity(fidelity)
        self._blender = RegionBlender(regions)

    @property
    def regions(self) -> tuple[Region, ...]:
        """The regions, as given."""
        return self._blender.regions

    @property
    def key(self) -> str:
        """Names what this touch-up does (its fidelity and regions), for caches."""
        boxes = ";".join(f"{r.x},{r.y},{r.width},{r.height}" for r in self.regions)
        return f"touchup:{self.fidelity!r}:{boxes}"

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        """The frame touched up: blended into ``rgb`` itself when it is writable (the
        caller's own frame), else into a copy."""
        return self._blender.apply(
            rgb,
            lambda crop, _corner: denoise_and_sharpen(crop, self.fidelity),
            in_place=rgb.flags.writeable,
        )


def _blend(enhanced: np.ndarray, crop: np.ndarray, patch: _Patch) -> None:
    """Blends ``enhanced`` into ``crop`` with the patch's weights, in place.

    The same pixels as one ``cv2.blendLinear`` of the whole crop, which gives the
    enhanced pixel where the weight is 1 and the input where it is 0: only the feathers
    are blended (a fifth of the crop's pixels for the gateway's regions), the regions
    themselves copied. Feathers of neighbouring regions may overlap, so they read the
    input from a copy.
    """
    source = crop.copy() if patch.merged else crop
    for rows, columns in patch.feathers:
        cv2.blendLinear(
            enhanced[rows, columns],
            source[rows, columns],
            patch.weight[rows, columns],
            patch.rest[rows, columns],
            dst=crop[rows, columns],
        )
    for rows, columns in patch.insides:
        crop[rows, columns] = enhanced[rows, columns]


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
    feathers, insides = [], []
    for region in members:
        feathers += _feather_strips(region, box)
        inside = _crop_slices(
            (region.y, region.y + region.height, region.x, region.x + region.width), box
        )
        if inside is not None:
            insides.append(inside)
        # Distance outside the rectangle along each axis (0 inside).
        dy = np.maximum(np.maximum(region.y - rows, rows - (region.y + region.height)), 0)
        dx = np.maximum(np.maximum(region.x - columns, columns - (region.x + region.width)), 0)
        distance = np.sqrt(dy * dy + dx * dx)
        ramp = np.clip(1.0 - distance / FEATHER_PIXELS, 0.0, 1.0)
        # Smoothstep: no visible kink where the feather starts or ends.
        weight = np.maximum(weight, ramp * ramp * (3.0 - 2.0 * ramp))
    rest = np.float32(1.0) - weight
    return _Patch(
        top, bottom, left, right, weight, rest, tuple(feathers), tuple(insides), len(members) > 1
    )


def _feather_strips(region: Region, box: tuple[int, int, int, int]) -> list[tuple[slice, slice]]:
    """The region grown by the feather less the region, as four strips of the box's crop."""
    top, bottom = region.y, region.y + region.height
    left, right = region.x, region.x + region.width
    grown_top, grown_bottom = top - FEATHER_PIXELS, bottom + FEATHER_PIXELS
    grown_left, grown_right = left - FEATHER_PIXELS, right + FEATHER_PIXELS
    strips = [
        (grown_top, top, grown_left, grown_right),
        (bottom, grown_bottom, grown_left, grown_right),
        (top, bottom, grown_left, left),
        (top, bottom, right, grown_right),
    ]
    return [s for s in (_crop_slices(strip, box) for strip in strips) if s is not None]


def _crop_slices(
    rectangle: tuple[int, int, int, int], box: tuple[int, int, int, int]
) -> tuple[slice, slice] | None:
    """A (top, bottom, left, right) rectangle of the frame as slices of the box's crop,
    clipped to it; None when nothing of it is inside."""
    top, bottom = max(rectangle[0], box[0]), min(rectangle[1], box[1])
    left, right = max(rectangle[2], box[2]), min(rectangle[3], box[3])
    if top >= bottom or left >= right:
        return None
    return slice(top - box[0], bottom - box[0]), slice(left - box[2], right - box[2])
