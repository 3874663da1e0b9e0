"""The inside of an open mouth: dark cavity, tongue, and teeth that move with the lips.

Stretching the photo between the lips would smear whatever was there, so the
warp's result inside the inner-lip contour is replaced by a synthesised interior:

* a dark cavity shading into a tongue tone, coloured from the photo's lips;
* when the photo shows teeth, its own mouth interior, split at the midline:
  the upper half moves with the upper lip and the lower half with the lower lip
  (teeth are rigid: they translate, never stretch);
* otherwise drawn teeth: a band under the upper lip and, when the mouth opens
  wide, a fainter hint of lower teeth above the lower lip.

Everything happens in the small box around the mouth and is blended through an
anti-aliased mask, so lip edges stay crisp.
"""

from __future__ import annotations

import cv2
import numpy as np

from avatar_animator.rig import FACING_PAIRS, INNER_CONTOUR, INNER_LIP_PAIRS, FaceRig

_SHIFT = 4
_ONE = 1 << _SHIFT
# Mouth-interior areas (pixels^2) below this are not drawn: the lips touch.
_MIN_OPEN_AREA = 3.0
# ... or below this share of the squared mouth width: a sliver the seam line covers.
_MIN_OPEN_SHARE = 0.005
_DRAWN_TEETH_COLOUR = np.array([236.0, 229.0, 212.0])


class MouthPainter:
    """Paints the mouth interior of one photo's frames (per-photo data precomputed)."""

    def __init__(self, image: np.ndarray, rig: FaceRig) -> None:
        """Measures the photo's lips and teeth.

        Args:
            image: The still frame, RGB uint8.
            rig: Its face rig.
        """
        self._image = image
        self._rig = rig
        source = rig.source
        lips = _polygon_pixels(image, source[48:60], hole=source[list(INNER_CONTOUR)])
        lip_colour = np.median(lips, axis=0) if len(lips) else np.array([150.0, 80.0, 80.0])
        self._cavity_colour = lip_colour * np.array([0.28, 0.14, 0.15])
        self._tongue_colour = lip_colour * np.array([0.75, 0.45, 0.48])
        self._seam_colour = lip_colour * np.array([0.45, 0.28, 0.28])
        self._photo_interior = smooth_closed_curve(source[list(INNER_CONTOUR)], samples=2)
        self.photo_teeth = self._photo_shows_teeth()
        skin = _polygon_pixels(image, source[[1, 29, 15, 8]])
        brightness = float(np.mean(skin)) / 150.0 if len(skin) else 1.0
        self._teeth_colour = _DRAWN_TEETH_COLOUR * min(1.1, max(0.6, brightness))

    def _photo_shows_teeth(self) -> bool:
        """Whether the photo's mouth is open on visible (bright, unsaturated) teeth."""
        if self._rig.lip_gap < 0.04 * self._rig.mouth_width:
            return False
        inside = _polygon_pixels(self._image, self._rig.source[list(INNER_CONTOUR)])
        if len(inside) < 12:
            return False
        hsv = cv2.cvtColor(inside.reshape(-1, 1, 3).astype(np.uint8), cv2.COLOR_RGB2HSV)[:, 0]
        teeth_like = (hsv[:, 2] > 120) & (hsv[:, 1] < 110)
        return bool(teeth_like.mean() > 0.3)

    def paint(self, frame: np.ndarray, vertices: np.ndarray) -> None:
        """Draws the mouth interior into ``frame`` (in place) for the given vertices."""
        if np.abs(vertices[48:68] - self._rig.source[48:68]).max() < 0.01:
            return  # the photo's own mouth: nothing to synthesise
        self._seam(frame, vertices)
        corners = vertices[list(INNER_CONTOUR)]
        minimum = max(_MIN_OPEN_AREA, _MIN_OPEN_SHARE * self._rig.mouth_width**2)
        if cv2.contourArea(corners.astype(np.float32)) < minimum:
            return
        # Real lip edges are curves, not a polygon: round the opening.
        contour = smooth_closed_curve(corners, samples=2)
        height, width = frame.shape[:2]
        left = max(0, int(contour[:, 0].min()) - 2)
        top = max(0, int(contour[:, 1].min()) - 2)
        right = min(width, int(np.ceil(contour[:, 0].max())) + 3)
        bottom = min(height, int(np.ceil(contour[:, 1].max())) + 3)
        if right - left < 2 or bottom - top < 2:
            return
        offset = np.array([left, top])
        box = (bottom - top, right - left)
        interior = self._cavity(box, contour - offset)
        upper_move, _ = self._rig.lip_displacements(vertices)
        if self.photo_teeth:
            # Teeth a smile shows are the upper ones: they move with the upper lip.
            self._photo_layer(interior, offset, self._photo_interior, upper_move)
        else:
            self._drawn_teeth(interior, vertices, offset)
        # The curve can dip inside the mesh's straight edges; there the warp stretches
        # the photo's thin lip gap into streaks, so the interior covers both outlines.
        alpha = np.maximum(_mask(box, contour - offset), _mask(box, corners - offset))[..., None]
        region = frame[top:bottom, left:right]
        blended = region * (1.0 - alpha) + np.minimum(interior, 255.0) * alpha + 0.5
        region[:] = blended.astype(np.uint8)

    def _seam(self, frame: np.ndarray, vertices: np.ndarray) -> None:
        """Draws the dark line where closing lips meet, over what is left of the teeth.

        Only for photos with an open mouth: a closed photo already shows its own seam.
        """
        rig = self._rig
        width = rig.mouth_width
        if rig.lip_gap < 0.02 * width:
            return
        gap = np.mean([(vertices[low] - vertices[up]) @ rig.axis_y for up, low in FACING_PAIRS])
        strength = min(1.0, max(0.0, 1.0 - gap / (0.05 * width)))
        if strength <= 0.0:
            return
        upper = vertices[[60, 70, 61, 71, 62, 72, 63, 73, 64]]
        lower = vertices[[60, 77, 67, 76, 66, 75, 65, 74, 64]]
        line = smooth_open_curve((upper + lower) / 2, 3)
        height, frame_width = frame.shape[:2]
        left, top = np.maximum(np.floor(line.min(axis=0)).astype(int) - 3, 0)
        right, bottom = np.ceil(line.max(axis=0)).astype(int) + 4
        right, bottom = min(right, frame_width), min(bottom, height)
        if right - left < 2 or bottom - top < 1:
            return
        region = frame[top:bottom, left:right]
        drawn = region.copy()
        points = np.round((line - (left, top)) * _ONE).astype(np.int32)
        thickness = max(1, round(0.015 * width))
        colour = self._seam_colour.tolist()
        cv2.polylines(drawn, [points], False, colour, thickness, cv2.LINE_AA, _SHIFT)
        cv2.addWeighted(drawn, 0.6 * strength, region, 1.0 - 0.6 * strength, 0.0, dst=region)

    def _cavity(self, box: tuple[int, int], contour: np.ndarray) -> np.ndarray:
        """Dark cavity shading into the tongue towards the lower lip."""
        top, bottom = contour[:, 1].min(), contour[:, 1].max()
        rows = np.arange(box[0], dtype=np.float32)
        depth = np.clip((rows - top) / max(bottom - top, 1.0), 0.0, 1.0)
        tongue = np.clip((depth - 0.5) / 0.5, 0.0, 1.0) ** 1.5
        column = self._cavity_colour + tongue[:, None] * (self._tongue_colour - self._cavity_colour)
        return np.repeat(column[:, None, :], box[1], axis=1).astype(np.float32)

    def _photo_layer(
        self, interior: np.ndarray, offset: np.ndarray, polygon: np.ndarray, move: np.ndarray
    ) -> None:
        """Composites part of the photo's mouth interior, translated by ``move``."""
        height, width = interior.shape[:2]
        shift = offset - move
        matrix = np.array([[1.0, 0.0, shift[0]], [0.0, 1.0, shift[1]]])
        patch = cv2.warpAffine(
            self._image,
            matrix,
            (width, height),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        alpha = _mask((height, width), polygon + move - offset)[..., None]
        interior[:] = interior * (1.0 - alpha) + patch * alpha

    def _drawn_teeth(self, interior: np.ndarray, vertices: np.ndarray, offset: np.ndarray) -> None:
        """Upper teeth under the upper lip and, mouth wide open, a lower-teeth hint."""
        rig = self._rig
        width = rig.mouth_width
        down = rig.axis_y * width
        upper_lip = smooth_open_curve(vertices[[60, 70, 61, 71, 62, 72, 63, 73, 64]], 2) - offset
        lower_lip = smooth_open_curve(vertices[[64, 74, 65, 75, 66, 76, 67, 77, 60]], 2) - offset
        gap = float(
            np.mean([(vertices[low] - vertices[up]) @ rig.axis_y for up, low in INNER_LIP_PAIRS])
        )
        height = 0.09 * width
        shade = _teeth_shading(interior.shape, upper_lip, height, width)
        upper_band = np.vstack([upper_lip, (upper_lip + 0.09 * down)[::-1]])
        alpha = _mask(interior.shape[:2], upper_band)[..., None]
        interior[:] = interior * (1.0 - alpha) + (self._teeth_colour * shade) * alpha
        lower_share = min(1.0, max(0.0, (gap / width - 0.15) / 0.1))
        if lower_share > 0.0:
            lower_band = np.vstack([lower_lip, (lower_lip - 0.035 * down)[::-1]])
            alpha = _mask(interior.shape[:2], lower_band)[..., None] * (0.45 * lower_share)
            interior[:] = interior * (1.0 - alpha) + (self._teeth_colour * 0.8 * shade) * alpha


# Borders between neighbouring teeth, in mouth widths from the centre: incisors, canines, premolars.
_TOOTH_BORDERS = np.array([0.0, -0.105, 0.105, -0.19, 0.19, -0.27, 0.27])


def _teeth_shading(
    shape: tuple[int, ...], lip: np.ndarray, height: float, mouth_width: float
) -> np.ndarray:
    """Brightness (H, W, 1) of drawn teeth: lip shadow at the top, a softer incisal
    edge, darker towards the corners, and faint lines between the teeth."""
    rows = np.arange(shape[0], dtype=np.float32)[:, None]
    columns = np.arange(shape[1], dtype=np.float32)
    order = np.argsort(lip[:, 0])
    lip_y = np.interp(columns, lip[order, 0], lip[order, 1])[None, :]
    depth = np.clip((rows - lip_y) / max(height, 1.0), 0.0, 1.0)
    vertical = 0.8 + 0.2 * np.sin(np.pi * (0.15 + 0.8 * depth))
    centre = (lip[0, 0] + lip[-1, 0]) / 2
    half = max(abs(lip[-1, 0] - lip[0, 0]) / 2, 1.0)
    relative = np.clip((columns - centre) / half, -1.0, 1.0)
    across = (columns - centre) / mouth_width
    sharpness = mouth_width / max(0.7, 0.01 * mouth_width)
    borders = np.exp(-(((across[:, None] - _TOOTH_BORDERS[None, :]) * sharpness) ** 2)).sum(axis=1)
    horizontal = (1.0 - 0.55 * relative**2) * (1.0 - 0.12 * np.minimum(borders, 1.0))
    return (vertical * horizontal[None, :])[..., None].astype(np.float32)


def smooth_closed_curve(points: np.ndarray, samples: int = 4) -> np.ndarray:
    """A closed Catmull-Rom curve through ``points``, ``samples`` points per segment."""
    before, after, further = (np.roll(points, shift, axis=0) for shift in (1, -1, -2))
    return _catmull_rom(before, points, after, further, samples).reshape(-1, 2)


def smooth_open_curve(points: np.ndarray, samples: int = 4) -> np.ndarray:
    """An open Catmull-Rom curve through ``points`` (end tangents mirrored)."""
    padded = np.vstack([2 * points[0] - points[1], points, 2 * points[-1] - points[-2]])
    curve = _catmull_rom(padded[:-3], padded[1:-2], padded[2:-1], padded[3:], samples)
    return np.vstack([curve.reshape(-1, 2), points[-1:]])


def _catmull_rom(
    p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, p3: np.ndarray, samples: int
) -> np.ndarray:
    """Points (segments, samples, 2) on the Catmull-Rom segments p1 -> p2."""
    t = (np.arange(samples) / samples)[None, :, None]
    p0, p1, p2, p3 = (p[:, None, :] for p in (p0, p1, p2, p3))
    return 0.5 * (
        2 * p1
        + (p2 - p0) * t
        + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
        + (3 * p1 - p0 - 3 * p2 + p3) * t**3
    )


def _mask(shape: tuple[int, ...], polygon: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage (0-1, float32) of a polygon in a box of ``shape``."""
    mask = np.zeros(shape[:2], dtype=np.uint8)
    fixed = np.round(np.asarray(polygon) * _ONE).astype(np.int32)
    cv2.fillPoly(mask, [fixed], 255, cv2.LINE_AA, _SHIFT)
    return mask.astype(np.float32) * (1.0 / 255.0)


def _polygon_pixels(
    image: np.ndarray, polygon: np.ndarray, hole: np.ndarray | None = None
) -> np.ndarray:
    """The RGB pixels (N, 3) inside a polygon of the image (and outside ``hole``)."""
    mask = np.zeros(image.shape[:2], dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 1)
    if hole is not None:
        cv2.fillPoly(mask, [np.round(hole).astype(np.int32)], 0)
    return image[mask.astype(bool)].astype(np.float64)
