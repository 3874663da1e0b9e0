"""How sharp and how grainy a photo is around the mouth, and giving drawn pixels the same.

A synthesised mouth interior is rendered clean and sharp; next to a soft, noisy
photo it would stand out as pasted. :class:`PhotoLook` measures once per photo
the blur of its sharpest edges and the grain of its skin around the mouth, and
:meth:`PhotoLook.finish` blurs a drawn patch to the same softness and adds grain
of the same strength. The grain is a fixed pattern in frame coordinates, like a
photo's own, so it does not crawl from frame to frame and every frame is
deterministic.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from avatar_animator.curves import spread

# Blur (Gaussian sigma, pixels) that anti-aliased drawing already has.
_DRAWN_SIGMA = 0.5
# Limits of the measured blur and grain: beyond them a measure is not believed.
_SIGMA_RANGE = (0.5, 3.0)
_GRAIN_RANGE = (0.3, 6.0)
# Share of a mouth box's pixels, by gradient, taken as its sharpest edges.
_EDGE_SHARE = 0.03


class PhotoLook:
    """The measured softness and grain of one photo, applied to drawn patches."""

    def __init__(
        self, image: np.ndarray, mouth_box: tuple[int, int, int, int], skin: np.ndarray
    ) -> None:
        """Measures the photo.

        Args:
            image: The still frame, RGB uint8.
            mouth_box: (left, top, right, bottom) around the lips, where edges are measured.
            skin: Boolean mask (height, width) of skin around the mouth, where grain is measured.
        """
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
        self.blur_sigma = edge_blur_sigma(gray, mouth_box)
        self.grain_sigma = grain_sigma(gray, skin)
        extra = max(0.0, self.blur_sigma**2 - _DRAWN_SIGMA**2)
        self._extra_sigma = math.sqrt(extra) if extra > 0.05 else 0.0
        random = np.random.default_rng(0)
        noise = random.standard_normal(image.shape[:2]).astype(np.float32)
        # Photo grain is not white: demosaicing and JPEG spread it over neighbours.
        noise = cv2.GaussianBlur(noise, (0, 0), 0.6)
        noise *= self.grain_sigma / max(float(noise.std()), 1e-6)
        # Rounded to half precision (grain needs no more), stored as float32: ready to add.
        self._grain = noise.astype(np.float16).astype(np.float32)

    def finish(self, patch: np.ndarray, left: int, top: int) -> np.ndarray:
        """Softens a drawn RGB float patch like the photo and adds the photo's grain.

        Args:
            patch: (h, w, 3) float32 pixels whose top-left corner is frame (left, top).
            left: Frame column of the patch's first column.
            top: Frame row of the patch's first row.

        Returns:
            The finished patch (a new array).
        """
        if self._extra_sigma:
            patch = cv2.GaussianBlur(
                patch, (0, 0), self._extra_sigma, borderType=cv2.BORDER_REPLICATE
            )
        height, width = patch.shape[:2]
        grain = self._grain[top : top + height, left : left + width]
        if grain.shape != patch.shape[:2]:
            return patch
        # Grain is luminance noise, equal on the three channels, as in a photo's shadows
        # (merged into three planes: broadcasting one plane over channels is far slower).
        return patch + spread(grain)


def edge_blur_sigma(gray: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Gaussian sigma (pixels) of the photo's sharpest edges inside ``box``.

    A step of contrast C blurred by a Gaussian of sigma s has a steepest slope
    of C / (s sqrt(2 pi)); the edges with the steepest slopes, over the contrast
    around them, give s.
    """
    left, top, right, bottom = box
    region = gray[max(0, top) : bottom, max(0, left) : right]
    if region.shape[0] < 8 or region.shape[1] < 8:
        return _SIGMA_RANGE[0]
    slope_x = cv2.Sobel(region, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    slope_y = cv2.Sobel(region, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    slope = np.hypot(slope_x, slope_y)
    kernel = np.ones((7, 7), dtype=np.uint8)
    contrast = cv2.dilate(region, kernel) - cv2.erode(region, kernel)
    steep = slope >= np.quantile(slope, 1.0 - _EDGE_SHARE)
    steep &= contrast > 20.0
    if steep.sum() < 5:
        return _SIGMA_RANGE[0]
    sigmas = contrast[steep] / (math.sqrt(2.0 * math.pi) * np.maximum(slope[steep], 1e-3))
    return float(np.clip(np.median(sigmas), *_SIGMA_RANGE))


def grain_sigma(gray: np.ndarray, skin: np.ndarray) -> float:
    """Standard deviation of the photo's grain on the skin.

    Wrinkles, pores and hair are detail, not grain: the grain is read in the
    flattest fifth of the skin, from the local spread of its finest detail.
    """
    if skin.sum() < 50:
        return _GRAIN_RANGE[0]
    detail = gray - cv2.GaussianBlur(gray, (0, 0), 1.0)
    local = np.sqrt(np.maximum(cv2.boxFilter(detail * detail, -1, (5, 5)), 0.0))
    # For pure grain the flattest fifth reads 0.75 of its deviation (subtracting the
    # blurred copy removes some of the grain, and a fifth lies below the mean): undo it.
    sigma = float(np.percentile(local[skin], 20)) / 0.75
    return float(np.clip(sigma, *_GRAIN_RANGE))
