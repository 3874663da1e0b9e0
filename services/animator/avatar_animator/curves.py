"""Smooth curves through landmarks and anti-aliased masks of the shapes they bound.

Lip and lid edges are curves, not the polygons that join their landmarks: the
mouth and eyelid painters draw Catmull-Rom curves through the mesh vertices and
fill them with sub-pixel, anti-aliased coverage.

Per-pixel colour work on those small boxes is done on contiguous planes:
broadcasting a (h, w) weight over three channels, or three colour values over
(h, w) pixels, makes numpy copy through small buffers and costs several times a
plain product; :func:`spread` and :func:`tinted` give the three-channel arrays
directly.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

SHIFT = 4
"""Fractional bits of the fixed-point coordinates given to OpenCV's drawing calls."""

ONE = 1 << SHIFT


def smooth_closed_curve(points: np.ndarray, samples: int = 4) -> np.ndarray:
    """A closed Catmull-Rom curve through ``points``, ``samples`` points per segment."""
    return _basis(len(points), samples, True) @ points


def smooth_open_curve(points: np.ndarray, samples: int = 4) -> np.ndarray:
    """An open Catmull-Rom curve through ``points`` (end tangents mirrored)."""
    return _basis(len(points), samples, False) @ points


@functools.lru_cache(maxsize=32)
def _basis(count: int, samples: int, closed: bool) -> np.ndarray:
    """The matrix that turns ``count`` control points into the curve's points.

    A Catmull-Rom curve is linear in its control points, so the weights are
    computed once per (count, samples, closed) and every curve is one product.
    """
    identity = np.eye(count)
    if closed:
        before, after, further = (np.roll(identity, shift, axis=0) for shift in (1, -1, -2))
        basis = _catmull_rom(before, identity, after, further, samples).reshape(-1, count)
    else:
        ends = [2 * identity[0] - identity[1], identity, 2 * identity[-1] - identity[-2]]
        padded = np.vstack(ends)
        curve = _catmull_rom(padded[:-3], padded[1:-2], padded[2:-1], padded[3:], samples)
        basis = np.vstack([curve.reshape(-1, count), identity[-1:]])
    basis.setflags(write=False)
    return basis


def _catmull_rom(
    p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, p3: np.ndarray, samples: int
) -> np.ndarray:
    """Points (segments, samples, dims) on the Catmull-Rom segments p1 -> p2."""
    t = (np.arange(samples) / samples)[None, :, None]
    p0, p1, p2, p3 = (p[:, None, :] for p in (p0, p1, p2, p3))
    return 0.5 * (
        2 * p1
        + (p2 - p0) * t
        + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
        + (3 * p1 - p0 - 3 * p2 + p3) * t**3
    )


def coverage_mask(shape: tuple[int, ...], *polygons: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage (0-1, float32) of the union of polygons in a box of ``shape``."""
    mask = np.zeros(shape[:2], dtype=np.uint8)
    for polygon in polygons:
        # Each fill blends its anti-aliased edge over what is there: a union.
        fixed = np.round(np.asarray(polygon) * ONE).astype(np.int32)
        cv2.fillPoly(mask, [fixed], 255, cv2.LINE_AA, SHIFT)
    return mask.astype(np.float32) * np.float32(1.0 / 255.0)


def polygon_pixels(
    image: np.ndarray, polygon: np.ndarray, hole: np.ndarray | None = None
) -> np.ndarray:
    """The pixels (N, channels) inside a polygon of the image (and outside ``hole``)."""
    mask = np.zeros(image.shape[:2], dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 1)
    if hole is not None:
        cv2.fillPoly(mask, [np.round(hole).astype(np.int32)], 0)
    return image[mask.astype(bool)].astype(np.float64)


def spread(plane: np.ndarray) -> np.ndarray:
    """A (h, w) plane repeated on three channels: (h, w, 3), contiguous."""
    return cv2.merge((plane, plane, plane))


def tinted(plane: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """A (h, w) float32 plane times an RGB colour: (h, w, 3), contiguous."""
    red, green, blue = (float(value) for value in colour)
    return cv2.merge((plane * red, plane * green, plane * blue))
