"""The inside of an open mouth, composited into the warped photo so it reads as a photo.

Stretching the photo between the lips would smear whatever was there, so the
warp's result inside the inner-lip contour is replaced by an interior:

* drawn by :func:`~avatar_animator.interior.paint_interior` (cavity with depth,
  tongue, teeth) in colours taken from the photo: the cavity and tongue from its
  lips, the teeth from its sclera and skin, never brighter than the face's own
  brightest 1%;
* when the photo shows teeth, its own mouth interior instead of drawn teeth,
  moving with the upper lip (teeth are rigid: they translate, never stretch);
* softened and grained like the photo around the mouth (measured once,
  :class:`~avatar_animator.photo_look.PhotoLook`), blended through a feathered,
  anti-aliased mask, with the wet inner edge of the lips and the corners of the
  mouth slightly darkened.

Everything happens in the small box around the mouth.
"""

from __future__ import annotations

import cv2
import numpy as np

from avatar_animator.curves import (
    ONE,
    SHIFT,
    coverage_mask,
    polygon_pixels,
    smooth_closed_curve,
    smooth_open_curve,
    spread,
)
from avatar_animator.interior import InteriorColours, InteriorPainter, OpeningShape, TeethLayer
from avatar_animator.photo_look import PhotoLook
from avatar_animator.rig import FACING_PAIRS, INNER_CONTOUR, FaceRig
from avatar_animator.visemes import MouthShape

# Mouth-interior areas (pixels^2) below this are not drawn: the lips touch.
_MIN_OPEN_AREA = 3.0
# ... or below this share of the squared mouth width: a sliver the seam line covers.
_MIN_OPEN_SHARE = 0.005
_UPPER_EDGE = (60, 70, 61, 71, 62, 72, 63, 73, 64)
_LOWER_EDGE = (60, 77, 67, 76, 66, 75, 65, 74, 64)
# Drawn teeth's lightness (Lab L*) relative to the face's 99th percentile; shading only
# darkens them from there.
_TEETH_LIGHTNESS = 0.97
# (a*, b*) of teeth, skin and the whites of the eyes in neutral light.
_TEETH_CHROMA = np.array([1.0, 10.0])
_SKIN_CHROMA = np.array([12.0, 17.0])
_SCLERA_CHROMA = np.array([1.0, 4.0])
RIM = 0.3


class MouthPainter:
    """Paints the mouth interior of one photo's frames (per-photo data precomputed)."""

    def __init__(self, image: np.ndarray, rig: FaceRig) -> None:
        """Measures the photo's lips, teeth, skin, sclera, softness and grain.

        Args:
            image: The still frame, RGB uint8.
            rig: Its face rig.
        """
        self._image = image
        self._rig = rig
        source = rig.source
        lips = polygon_pixels(image, source[48:60], hole=source[list(INNER_CONTOUR)])
        lip_colour = np.median(lips, axis=0) if len(lips) else np.array([150.0, 80.0, 80.0])
        # The cavity and the tongue are lip tissue in shadow: the lips' hue, darker.
        colours = InteriorColours(
            cavity=lip_colour * np.array([0.38, 0.24, 0.24]),
            tongue=lip_colour * np.array([0.85, 0.62, 0.62]),
            teeth=teeth_colour(image, source),
            lip=lip_colour,
        )
        self._seam_colour = lip_colour * np.array([0.45, 0.28, 0.28])
        self._lip_colour = lip_colour.astype(np.float32)
        self._lit_sum = float(self._lip_colour.sum()) * 0.85
        self._photo_interior = smooth_closed_curve(source[list(INNER_CONTOUR)], samples=2)
        self.photo_teeth = self._photo_shows_teeth()
        self._look = PhotoLook(
            image, _mouth_box(source, rig.mouth_width), _skin_mask(image, source)
        )
        teeth = None
        if not self.photo_teeth:
            teeth = TeethLayer(
                _teeth_region(source, rig.mouth_width, image.shape),
                smooth_open_curve(source[list(_UPPER_EDGE)], 3),
                rig.axis_x,
                rig.mouth_width,
                colours.teeth,
                colours.cavity,
            )
        self._interior = InteriorPainter(colours, rig.mouth_width, teeth)
        self._feather = max(0.45, 0.6 * self._look.blur_sigma)

    @property
    def look(self) -> PhotoLook:
        """The photo's measured softness and grain around the mouth."""
        return self._look

    def _photo_shows_teeth(self) -> bool:
        """Whether the photo's mouth is open on visible (bright, unsaturated) teeth."""
        if self._rig.lip_gap < 0.04 * self._rig.mouth_width:
            return False
        inside = polygon_pixels(self._image, self._rig.source[list(INNER_CONTOUR)])
        if len(inside) < 12:
            return False
        hsv = cv2.cvtColor(inside.reshape(-1, 1, 3).astype(np.uint8), cv2.COLOR_RGB2HSV)[:, 0]
        teeth_like = (hsv[:, 2] > 120) & (hsv[:, 1] < 110)
        return bool(teeth_like.mean() > 0.3)

    def paint(self, frame: np.ndarray, vertices: np.ndarray, mouth: MouthShape) -> None:
        """Draws the mouth interior into ``frame`` (in place) for the given vertices.

        Args:
            frame: The warped frame, RGB uint8.
            vertices: The mesh vertices of this frame.
            mouth: The frame's mouth controls (the tongue's height and tip).
        """
        rig = self._rig
        if np.abs(vertices[48:68] - rig.source[48:68]).max() < 0.01:
            return  # the photo's own mouth: nothing to synthesise
        self._seam(frame, vertices)
        corners = vertices[list(INNER_CONTOUR)]
        minimum = max(_MIN_OPEN_AREA, _MIN_OPEN_SHARE * rig.mouth_width**2)
        if cv2.contourArea(corners.astype(np.float32)) < minimum:
            return
        # Real lip edges are curves, not a polygon: round the opening.
        contour = smooth_closed_curve(corners, samples=2)
        # The interior is drawn just around the opening; the lips' rim needs a wider box.
        inner = _box(contour, 3, frame.shape)
        outer = _box(contour, int(np.ceil(0.06 * rig.mouth_width)) + 3, frame.shape)
        if inner[2] - inner[0] < 4 or inner[3] - inner[1] < 4:
            return
        upper_edge = smooth_open_curve(vertices[list(_UPPER_EDGE)], 3)
        upper_move, _ = rig.lip_displacements(vertices)
        opening = OpeningShape(
            upper=upper_edge,
            lower=smooth_open_curve(vertices[list(_LOWER_EDGE)], 3),
            teeth_shift=upper_move,
            tongue=mouth.tongue,
            tongue_tip=mouth.tongue_tip,
        )
        interior, tip = self._interior.paint(inner, opening, tip=not self.photo_teeth)
        interior = self._look.finish(interior, *inner[:2])
        if self.photo_teeth:
            # Teeth a smile shows are the upper ones: they move with the upper lip; the
            # tongue tip of a th shows in front of them.
            self._photo_layer(interior, np.array(inner[:2]), upper_move)
            if tip is not None:
                covered, colour = tip
                interior += (colour - interior) * spread(covered)
        left, top, right, bottom = outer
        corner = np.array([left, top])
        # The curve can dip inside the mesh's straight edges; there the warp stretches
        # the photo's thin lip gap into streaks, so the interior covers both outlines.
        coverage = coverage_mask((bottom - top, right - left), contour - corner, corners - corner)
        order = np.argsort(upper_edge[:, 0])
        edge_rows = np.interp(np.arange(left, right), upper_edge[order, 0], upper_edge[order, 1])
        rows = np.arange(top, bottom, dtype=np.float32)[:, None]
        upper_side = rows < edge_rows.astype(np.float32)[None, :]
        self._composite(frame[top:bottom, left:right], interior, inner, outer, coverage, upper_side)

    def _composite(
        self,
        region: np.ndarray,
        interior: np.ndarray,
        inner: tuple[int, int, int, int],
        outer: tuple[int, int, int, int],
        coverage: np.ndarray,
        upper_side: np.ndarray,
    ) -> None:
        """Blends the interior in with a feathered edge, with the lips' wet inner rim.

        A closed photo's seam (the shadow where its lips meet) stays on the upper
        lip's inner edge; parted, light reaches it, so there it is lifted towards
        the lip's own colour and only the rim's wet darkening remains.
        """
        width = self._rig.mouth_width
        # The soft edge lies just inside the opening: blending outwards would eat into
        # the lips, which must keep their thickness.
        alpha = cv2.GaussianBlur(coverage, (0, 0), self._feather)
        alpha = np.minimum(np.maximum((alpha - 0.3) * np.float32(1.0 / 0.7), 0.0), 1.0)
        near = cv2.GaussianBlur(coverage, (0, 0), 0.035 * width)
        outside = 1.0 - coverage
        rim = np.maximum(near - coverage, 0.0)
        # One contiguous plane per channel: broadcasting over channels is slow.
        lips = [plane.astype(np.float32) for plane in cv2.split(region)]
        darker = (lips[0] + lips[1] + lips[2]) < self._lit_sum
        seam = np.minimum(near + near, 1.0) * outside
        seam *= upper_side & darker
        # Lift the seam towards the lit lip, then darken the wet rim: one scale and
        # one offset per pixel.
        keep = 1.0 - 0.8 * seam
        darken = 1.0 - RIM * rim
        scale = keep * darken
        lift = (0.8 * 0.85) * (seam * darken)
        # Inside the opening the interior replaces the lips.
        ix0, iy0 = inner[0] - outer[0], inner[1] - outer[1]
        ix1, iy1 = ix0 + interior.shape[1], iy0 + interior.shape[0]
        weight = alpha[iy0:iy1, ix0:ix1]
        for plane, drawn, colour in zip(lips, cv2.split(interior), self._lip_colour, strict=True):
            plane *= scale
            plane += lift * colour
            window = plane[iy0:iy1, ix0:ix1]
            window += (drawn - window) * weight
        # Rounded and clamped to 0-255 (grain can take a drawn pixel past either end).
        blended = cv2.merge(lips)
        region[:] = np.minimum(np.maximum(blended + 0.5, 0.0), 255.0).astype(np.uint8)

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
        upper = vertices[list(_UPPER_EDGE)]
        lower = vertices[list(_LOWER_EDGE)]
        line = smooth_open_curve((upper + lower) / 2, 3)
        height, frame_width = frame.shape[:2]
        left, top = np.maximum(np.floor(line.min(axis=0)).astype(int) - 3, 0)
        right, bottom = np.ceil(line.max(axis=0)).astype(int) + 4
        right, bottom = min(right, frame_width), min(bottom, height)
        if right - left < 2 or bottom - top < 1:
            return
        region = frame[top:bottom, left:right]
        drawn = region.copy()
        points = np.round((line - (left, top)) * ONE).astype(np.int32)
        thickness = max(1, round(0.015 * width))
        colour = self._seam_colour.tolist()
        cv2.polylines(drawn, [points], False, colour, thickness, cv2.LINE_AA, SHIFT)
        cv2.addWeighted(drawn, 0.6 * strength, region, 1.0 - 0.6 * strength, 0.0, dst=region)

    def _photo_layer(self, interior: np.ndarray, offset: np.ndarray, move: np.ndarray) -> None:
        """Composites the photo's mouth interior, translated by ``move``."""
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
        coverage = coverage_mask((height, width), self._photo_interior + move - offset)
        alpha = cv2.GaussianBlur(coverage, (0, 0), max(0.45, 0.6 * self._look.blur_sigma))
        alpha = spread(alpha)
        interior[:] = interior * (1.0 - alpha) + patch * alpha


def _box(points: np.ndarray, margin: int, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) around points, with a margin, inside a frame of ``shape``."""
    height, width = shape[:2]
    left = max(0, int(points[:, 0].min()) - margin)
    top = max(0, int(points[:, 1].min()) - margin)
    right = min(width, int(np.ceil(points[:, 0].max())) + margin + 1)
    bottom = min(height, int(np.ceil(points[:, 1].max())) + margin + 1)
    return left, top, right, bottom


def teeth_colour(image: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Drawn teeth in the photo's own light: a warm off-white, never brighter than the photo.

    Lightness: 97% of the face's 99th-percentile lightness (shading only darkens
    from there). Colour: teeth are a little yellow in neutral light and take the
    photo's colour cast; the cast is read from the whites of the eyes when they
    are found and light enough, else from the skin's tint (so a warm photo gets
    warm teeth, not a grey band that reads blue beside its skin).

    Args:
        image: The still frame, RGB uint8.
        source: The mesh vertices (landmarks first).

    Returns:
        RGB float (0-255).
    """
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float64)
    face = polygon_pixels(lab, _face_hull(source))
    lightness = np.percentile(face[:, 0], 99) if len(face) else 230.0
    tint = np.median(face[:, 1:], axis=0) - 128.0 if len(face) else np.array([10.0, 18.0])
    # Skin's own (a*, b*) in neutral light is about (12, 17): what is beyond it is
    # the photo's cast; teeth are about (1, 10) in neutral light.
    chroma = _TEETH_CHROMA + np.clip(tint - _SKIN_CHROMA, -6.0, 16.0) * 0.7
    sclera = _sclera(lab, source)
    if sclera is not None and sclera[0] >= 0.7 * lightness:
        chroma = 0.5 * chroma + 0.5 * (sclera[1:] - 128.0 + _TEETH_CHROMA - _SCLERA_CHROMA)
    chroma = np.maximum(chroma, [0.5, 7.0])
    pixel = np.array([[[_TEETH_LIGHTNESS * lightness, *(chroma + 128.0)]]], dtype=np.float64)
    rgb = cv2.cvtColor(np.clip(pixel, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)
    return rgb[0, 0].astype(np.float64)


def _teeth_region(
    source: np.ndarray, mouth_width: float, shape: tuple[int, ...]
) -> tuple[int, int, int, int]:
    """(left, top, right, bottom): where drawn teeth can ever show, inside the frame."""
    lips = source[48:68]
    left = int(lips[:, 0].min() - 0.3 * mouth_width)
    right = int(np.ceil(lips[:, 0].max() + 0.3 * mouth_width))
    top = int(lips[:, 1].min() - 0.3 * mouth_width)
    bottom = int(np.ceil(max(source[8, 1], lips[:, 1].max()) + 0.2 * mouth_width))
    height, width = shape[:2]
    return max(left, 0), max(top, 0), min(right, width), min(bottom, height)


def _face_hull(source: np.ndarray) -> np.ndarray:
    """The convex hull (K, 2) of the jaw line and brows: the face."""
    return cv2.convexHull(source[:27].astype(np.float32))[:, 0, :]


def _sclera(lab: np.ndarray, source: np.ndarray) -> np.ndarray | None:
    """Median Lab of the whites of the eyes (light, unsaturated eye pixels), or None."""
    pixels = [polygon_pixels(lab, source[first : first + 6]) for first in (36, 42)]
    eyes = np.vstack([p for p in pixels if len(p)]) if any(len(p) for p in pixels) else None
    if eyes is None or len(eyes) < 20:
        return None
    saturation = np.hypot(eyes[:, 1] - 128.0, eyes[:, 2] - 128.0)
    white = (eyes[:, 0] >= np.percentile(eyes[:, 0], 70)) & (saturation < 20.0)
    if white.sum() < 6:
        return None
    return np.median(eyes[white], axis=0)


def _mouth_box(source: np.ndarray, mouth_width: float) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) around the lips, with a margin of a fifth of the mouth."""
    margin = 0.2 * mouth_width
    low, high = source[48:60].min(axis=0) - margin, source[48:60].max(axis=0) + margin
    return int(low[0]), int(low[1]), int(np.ceil(high[0])), int(np.ceil(high[1]))


def _skin_mask(image: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Boolean mask of the skin around the mouth: the lower face without the lips."""
    mask = np.zeros(image.shape[:2], dtype=np.uint8)
    lower_face = np.vstack([source[3:14], source[[35, 33, 31]]])
    cv2.fillPoly(mask, [np.round(lower_face).astype(np.int32)], 1)
    cv2.fillPoly(mask, [np.round(source[48:60]).astype(np.int32)], 0)
    return mask.astype(bool)
