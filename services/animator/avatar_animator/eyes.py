"""Closed eyelids for blinks: the eye filled with the surrounding skin, a lash line on top.

The warp slides the upper lid down, which reads well for a half-closed eye; fully
shut, a stretched photo shows smeared lashes and slivers of eye white. So each
photo also gets a "closed eye" patch per eye, made once: the eye opening is
inpainted from the skin around it and a soft lash line is drawn where the lids
meet. Blinks fade that patch in over the warped eye as they close.
"""

from __future__ import annotations

import cv2
import numpy as np

from avatar_animator.curves import smooth_open_curve
from avatar_animator.rig import FaceRig

_EYES = ((36, 37, 38, 39, 40, 41), (42, 43, 44, 45, 46, 47))
_SHIFT = 4
# The patch starts to show at this closure and covers the eye fully at 1.
_FADE_START = 0.35


class EyelidPainter:
    """Fades precomputed closed-eye patches over the frame during blinks."""

    def __init__(self, image: np.ndarray, rig: FaceRig) -> None:
        """Builds the closed-eye patch and blend mask of each eye.

        Args:
            image: The still frame, RGB uint8.
            rig: Its face rig.
        """
        self._patches: list[tuple[tuple[int, int, int, int], np.ndarray, np.ndarray]] = []
        for eye in _EYES:
            patch = _closed_eye_patch(image, rig.source[list(eye)], rig.eye_width)
            if patch is not None:
                self._patches.append(patch)

    def paint(self, frame: np.ndarray, blink: float) -> None:
        """Blends the closed eyes into ``frame`` (in place) by the blink's closure."""
        fade = min(1.0, max(0.0, (blink - _FADE_START) / (1.0 - _FADE_START)))
        if fade <= 0.0:
            return
        fade = fade * fade * (3.0 - 2.0 * fade)
        for (left, top, right, bottom), closed, alpha in self._patches:
            region = frame[top:bottom, left:right]
            weight = alpha * fade
            region[:] = (region * (1.0 - weight) + closed * weight + 0.5).astype(np.uint8)


def _closed_eye_patch(
    image: np.ndarray, eye: np.ndarray, eye_width: float
) -> tuple[tuple[int, int, int, int], np.ndarray, np.ndarray] | None:
    """The box, closed-eye pixels (float32) and blend weights (float32, HxWx1) of one eye."""
    centre = eye.mean(axis=0)
    # Cover the lashes above the lid and the lid margins: the opening grown by a third.
    grown = centre + (eye - centre) * np.array([1.12, 1.6]) + np.array([0.0, -0.04 * eye_width])
    margin = int(np.ceil(0.25 * eye_width)) + 3
    left, top = np.floor(grown.min(axis=0)).astype(int) - margin
    right, bottom = np.ceil(grown.max(axis=0)).astype(int) + margin
    left, top = max(left, 0), max(top, 0)
    right, bottom = min(right, image.shape[1]), min(bottom, image.shape[0])
    if right - left < 4 or bottom - top < 4:
        return None
    offset = np.array([left, top])
    box = image[top:bottom, left:right]
    hole = np.zeros(box.shape[:2], dtype=np.uint8)
    cv2.fillPoly(hole, [np.round(grown - offset).astype(np.int32)], 255)
    closed = cv2.inpaint(box, hole, max(2.0, 0.1 * eye_width), cv2.INPAINT_TELEA)
    # Inpainting pulls in the dark lashes and crease around the eye; a shut lid is
    # mostly plain skin, so lean towards the box's typical (brighter half) skin tone.
    around = box[hole == 0].astype(np.float32)
    brightness = around.sum(axis=1)
    skin = np.median(around[brightness >= np.median(brightness)], axis=0)
    closed = (0.55 * closed + 0.45 * skin).astype(np.uint8)
    _draw_lashes(closed, box, eye - offset, eye_width)
    alpha = np.zeros(box.shape[:2], dtype=np.uint8)
    cv2.fillPoly(
        alpha,
        [np.round((grown - offset) * (1 << _SHIFT)).astype(np.int32)],
        255,
        cv2.LINE_AA,
        _SHIFT,
    )
    alpha = cv2.GaussianBlur(alpha, (0, 0), max(1.0, 0.05 * eye_width))
    weights = (alpha.astype(np.float32) / 255.0)[..., None]
    return (left, top, right, bottom), closed.astype(np.float32), weights


def _draw_lashes(
    closed: np.ndarray, original: np.ndarray, eye: np.ndarray, eye_width: float
) -> None:
    """Draws the shut lid's edge: a soft dark curve just above the lower lid."""
    outer, upper_a, upper_b, inner, lower_b, lower_a = eye
    lift = 0.25
    curve = smooth_open_curve(
        np.array(
            [
                outer,
                lower_a + lift * (upper_a - lower_a),
                lower_b + lift * (upper_b - lower_b),
                inner,
            ]
        ),
        samples=6,
    )
    lash_colour = np.percentile(original.reshape(-1, 3), 5, axis=0)
    thickness = max(1, round(0.05 * eye_width))
    lines = closed.copy()
    points = np.round(curve * (1 << _SHIFT)).astype(np.int32)
    cv2.polylines(lines, [points], False, lash_colour.tolist(), thickness, cv2.LINE_AA, _SHIFT)
    # A lid edge is softer than a drawn line: blend it in at 70%.
    cv2.addWeighted(lines, 0.7, closed, 0.3, 0.0, dst=closed)
