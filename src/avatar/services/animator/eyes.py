"""Closed eyelids for blinks: skin over the covered eye, lashes along the lid's edge.

The warp slides the upper lid down, but it does so by stretching the photo's lid
(lashes included) over the eye. The part of the eye the lid now covers is
repainted in the lid's own skin tone, with a soft lash line along the moving lid
edge, so a blink reads as a lid closing and not as a smear.
"""

from __future__ import annotations

import cv2
import numpy as np

from avatar.services.animator.rig import FaceRig

# Upper-lid contour of each eye, outer to inner corner (dlib order), and the brow above.
_UPPER_LIDS = ((36, 37, 38, 39), (42, 43, 44, 45))
_BROWS = ((17, 18, 19, 20, 21), (22, 23, 24, 25, 26))
_SHIFT = 4
# Blinks weaker than this leave the warped frame as it is.
_MIN_BLINK = 0.05


class EyelidPainter:
    """Paints closing eyelids of one photo's frames."""

    def __init__(self, image: np.ndarray, rig: FaceRig) -> None:
        """Samples each upper lid's skin tone and lash colour from the photo."""
        self._rig = rig
        self._lid_colours = []
        self._lash_colours = []
        for lid, brow in zip(_UPPER_LIDS, _BROWS, strict=True):
            lid_points = rig.source[list(lid)]
            # The skin between the lid edge and a third of the way up to the brow.
            lift = (rig.source[list(brow)].mean(axis=0) - lid_points.mean(axis=0)) / 3
            band = np.vstack([lid_points + lift * 0.2, (lid_points + lift)[::-1]])
            skin = _pixels_inside(image, band)
            colour = np.median(skin, axis=0) if len(skin) else np.array([180.0, 140.0, 120.0])
            self._lid_colours.append(colour * 0.94)
            edge = _pixels_inside(image, np.vstack([lid_points, (lid_points - lift * 0.4)[::-1]]))
            lash = np.percentile(edge, 10, axis=0) if len(edge) else colour * 0.3
            self._lash_colours.append(np.minimum(lash, colour * 0.5))
        self._lash_width = max(1.0, 0.05 * rig.eye_width)

    def paint(self, frame: np.ndarray, vertices: np.ndarray, blink: float) -> None:
        """Repaints the covered part of both eyes in place; no-op while the eyes are open."""
        if blink < _MIN_BLINK:
            return
        strength = min(1.0, blink * 1.25)
        for lid, lid_colour, lash_colour in zip(
            _UPPER_LIDS, self._lid_colours, self._lash_colours, strict=True
        ):
            source = self._rig.source[list(lid)]
            moved = vertices[list(lid)]
            covered = np.vstack([source, moved[::-1]])
            low = np.floor(np.vstack([covered, moved]).min(axis=0)).astype(int) - 3
            high = np.ceil(np.vstack([covered, moved]).max(axis=0)).astype(int) + 4
            left, top = max(low[0], 0), max(low[1], 0)
            right, bottom = min(high[0], frame.shape[1]), min(high[1], frame.shape[0])
            if right - left < 2 or bottom - top < 2:
                continue
            offset = np.array([left, top])
            shape = (bottom - top, right - left)
            skin = _coverage(shape, [covered - offset], fill=True) * strength * 0.9
            lash = _coverage(shape, [moved - offset], fill=False, width=self._lash_width)
            lash *= 0.75 * blink
            region = frame[top:bottom, left:right].astype(np.float32)
            region = region * (1.0 - skin[..., None]) + lid_colour * skin[..., None]
            region = region * (1.0 - lash[..., None]) + lash_colour * lash[..., None]
            frame[top:bottom, left:right] = (region + 0.5).astype(np.uint8)


def _coverage(
    shape: tuple[int, int], polygons: list[np.ndarray], *, fill: bool, width: float = 1.0
) -> np.ndarray:
    """Soft (0-1) coverage of filled polygons or of polylines ``width`` pixels wide."""
    mask = np.zeros(shape, dtype=np.uint8)
    fixed = [np.round(polygon * (1 << _SHIFT)).astype(np.int32) for polygon in polygons]
    if fill:
        cv2.fillPoly(mask, fixed, 255, cv2.LINE_AA, _SHIFT)
    else:
        cv2.polylines(mask, fixed, False, 255, max(1, round(width)), cv2.LINE_AA, _SHIFT)
    return cv2.GaussianBlur(mask, (3, 3), 0).astype(np.float32) * (1.0 / 255.0)


def _pixels_inside(image: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """The RGB pixels (N, 3) inside a polygon."""
    mask = np.zeros(image.shape[:2], dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 1)
    return image[mask.astype(bool)].astype(np.float64)
