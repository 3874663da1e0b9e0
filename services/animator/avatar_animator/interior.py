"""The drawn inside of an open mouth: a cavity with depth, the tongue and the teeth.

:class:`InteriorPainter` renders, in a small box around the opening, what a
camera sees between parted lips, back to front:

* the cavity: dark but not black, lit a little near the lips and darkest deep
  inside and in the corners;
* the tongue: a soft arch rising from behind the lower lip; low on open vowels,
  up against the upper teeth on l, t, d and n;
* a hint of lower teeth above the lower lip when the jaw drops wide;
* the upper teeth, rigid, hanging from the upper lip and moving with it: warm
  off-white with per-tooth rounding, soft borders between the teeth and a
  translucent edge, turning away into the dark towards the corners; made once
  per photo (:class:`TeethLayer`) and only moved per frame. They reach up under
  the lip, so no dark line separates lip and teeth; the lip's occlusion shadow
  falls on them;
* on th, the tongue tip between the teeth, in front of them.

Per frame everything is a function of the column (the lip edges above and below
it) and the row, so the work is a few operations over the box. All coverage is
anti-aliased; the caller softens and grains the result to match the photo
(:mod:`avatar_animator.photo_look`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from avatar_animator.curves import tinted

# Borders between teeth, in mouth widths from the midline: incisors, canines, premolars.
_TOOTH_BORDERS = np.array([0.0, 0.1, 0.18, 0.25, 0.31, 0.36, 0.6])
# Visible height of the upper central incisors, in mouth widths.
_UPPER_TEETH_HEIGHT = 0.085
# How far (mouth widths) the drawn teeth reach up under the upper lip.
_UNDER_LIP = 0.12
# Upper teeth show down to at most this share of the gap between the lips.
_TEETH_GAP_SHARE = 0.72
# Lower teeth show this high (mouth widths) when the jaw is dropped wide.
_LOWER_TEETH_HEIGHT = 0.025
# Teeth in shadow warm up (light inside the mouth is reddish, bounced off lips and
# gums): each channel darkens as shade ** exponent, blue fastest; a plain darkening of
# off-white would read grey or olive beside the skin.
_WARM_SHADE = np.array([0.7, 1.0, 1.3])
# Strength per channel of the upper lip's occlusion shadow on the teeth.
_OCCLUSION = np.array([0.18, 0.24, 0.28], dtype=np.float32)


@dataclass(frozen=True, slots=True)
class InteriorColours:
    """Colours (RGB float, 0-255) of one photo's mouth interior.

    Attributes:
        cavity: The cavity's colour at mid depth.
        tongue: The tongue's colour where it is best lit.
        teeth: The teeth's colour where they are best lit.
        lip: The lips' own colour.
    """

    cavity: np.ndarray
    tongue: np.ndarray
    teeth: np.ndarray
    lip: np.ndarray


@dataclass(frozen=True, slots=True)
class OpeningShape:
    """Where the lips are in one frame, in frame pixels.

    Attributes:
        upper: The upper inner lip edge, points (N, 2) from one corner to the other.
        lower: The lower inner lip edge, points (M, 2) from one corner to the other.
        teeth_shift: How far (x, y) the upper teeth moved from the photo (with the lip).
        tongue: Tongue height, 0 (low) to 1 (against the upper teeth).
        tongue_tip: How far the tongue tip shows between the teeth, 0 to 1.
    """

    upper: np.ndarray
    lower: np.ndarray
    teeth_shift: np.ndarray
    tongue: float = 0.0
    tongue_tip: float = 0.0


class TeethLayer:
    """One photo's drawn upper teeth, premultiplied RGB and coverage, made once.

    The teeth hang from the photo's upper inner lip edge, in the face's own axes
    (a tilted head keeps them level with its lips), and are only translated per
    frame: teeth are rigid, they never stretch with the lips.
    """

    def __init__(
        self,
        region: tuple[int, int, int, int],
        upper_edge: np.ndarray,
        axis_x: np.ndarray,
        mouth_width: float,
        colour: np.ndarray,
        depth_colour: np.ndarray,
    ) -> None:
        """Draws the teeth into a region of the frame.

        Args:
            region: (left, top, right, bottom) of the frame the layer covers.
            upper_edge: The photo's upper inner lip edge, points (N, 2), frame pixels.
            axis_x: The face's horizontal unit vector.
            mouth_width: The photo's mouth width in pixels.
            colour: The teeth's colour where best lit (RGB float).
            depth_colour: The colour the teeth's thin edge lets through (the cavity's).
        """
        left, top, right, bottom = region
        self.region = region
        axis_y = np.array([-axis_x[1], axis_x[0]])
        centre = (upper_edge[0] + upper_edge[-1]) / 2
        ys = np.arange(top, bottom, dtype=np.float64)[:, None] - centre[1]
        xs = np.arange(left, right, dtype=np.float64)[None, :] - centre[0]
        u, v = xs * axis_x[0] + ys * axis_x[1], xs * axis_y[0] + ys * axis_y[1]
        edge = upper_edge - centre
        edge_u, edge_v = edge @ axis_x, edge @ axis_y
        order = np.argsort(edge_u)
        lip = np.interp(u, edge_u[order], edge_v[order])
        half = max(float(np.abs(edge_u).max()), 1.0)
        across = np.clip(u / half, -1.0, 1.0)
        height = _UPPER_TEETH_HEIGHT * mouth_width * (1.0 - 0.35 * across**2)
        below = v - lip
        covered = np.clip(height - below + 0.5, 0.0, 1.0)
        covered *= np.clip(below + _UNDER_LIP * mouth_width + 0.5, 0.0, 1.0)
        # Beyond the canines the teeth turn away into the cheeks' dark corridor.
        covered *= np.clip((0.92 - np.abs(across)) / 0.15, 0.0, 1.0)
        depth = np.clip(below / np.maximum(height, 1.0), 0.0, 1.0)
        relief = tooth_relief(u, mouth_width)
        shade = relief * (1.0 - 0.4 * smoothstep(0.3, 1.0, np.abs(across)))
        # The thin biting edge lets the dark behind show through a little.
        edge_share = 0.25 * smoothstep(0.65, 1.0, depth)
        rgb = colour[None, None, :] * warm_shade(shade)
        rgb += (depth_colour[None, None, :] - rgb) * edge_share[..., None]
        self._layer = np.dstack([rgb * covered[..., None], covered]).astype(np.float32)

    def placed(self, box: tuple[int, int, int, int], shift: np.ndarray) -> np.ndarray:
        """The layer (h, w, 4: premultiplied RGB, coverage) over a box, moved by ``shift``."""
        left, top, right, bottom = box
        matrix = np.array(
            [
                [1.0, 0.0, left - self.region[0] - shift[0]],
                [0.0, 1.0, top - self.region[1] - shift[1]],
            ]
        )
        return cv2.warpAffine(
            self._layer,
            matrix,
            (right - left, bottom - top),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
        )


class InteriorPainter:
    """Paints the interior of one photo's mouth openings."""

    def __init__(
        self, colours: InteriorColours, mouth_width: float, teeth: TeethLayer | None
    ) -> None:
        """Keeps what every frame shares.

        Args:
            colours: The photo's interior colours.
            mouth_width: The photo's mouth width in pixels.
            teeth: The drawn upper teeth, or None when the photo's own are used.
        """
        self._colours = colours
        self._width = mouth_width
        self._teeth = teeth
        self._cavity = colours.cavity.astype(np.float32)
        self._tongue = colours.tongue.astype(np.float32)
        self._lower_teeth = (0.85 * colours.teeth).astype(np.float32)
        # The tip is at the front, in the light: lighter and pinker than the tongue's back.
        tip = colours.lip * np.array([1.0, 0.86, 0.86])
        self._tip_colour = (0.8 * tip + 0.2 * colours.tongue).astype(np.float32)

    def paint(
        self, box: tuple[int, int, int, int], opening: OpeningShape, *, tip: bool = True
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
        """Renders the interior into a box of the frame.

        Args:
            box: (left, top, right, bottom) in frame pixels.
            opening: The lips and tongue of this frame.
            tip: Whether to draw the tongue tip in (False when the caller lays the
                photo's own teeth over the result and the tip after them).

        Returns:
            (height, width, 3) float32 RGB, and the tongue tip when it shows and was
            not drawn in: its coverage (h, w) and RGB (h, w, 3); else None.
        """
        left, top, right, bottom = box
        width = self._width
        columns = _Columns(np.arange(left, right, dtype=np.float32), opening)
        rows = np.arange(top, bottom, dtype=np.float32)[:, None]
        below_lip = rows - columns.upper
        above_lip = columns.lower - rows
        # Light gets in through the opening: a mouth barely parted is dark inside, the
        # tongue in it far darker than the lips around it.
        daylight = min(max(columns.centre_gap / (0.2 * width), 0.0), 1.0)
        from_lips = np.maximum(np.minimum(below_lip, above_lip), 0.0)
        cavity = np.exp(from_lips * np.float32(-1.0 / (0.045 * width)))
        cavity = (0.65 + 0.55 * cavity) * np.float32(0.7 + 0.3 * daylight)
        teeth_visible = min(_UPPER_TEETH_HEIGHT * width, columns.centre_gap)
        tongue, tongue_shade = self._tongue_body(columns, rows, above_lip, opening, teeth_visible)
        tongue_shade *= np.float32(0.45 + 0.55 * daylight)
        # The upper lip shades everything just below it (deepest on the teeth, its
        # occlusion shadow); the corners are in the cheeks' shadow.
        lip_shadow = np.exp(np.maximum(below_lip, 0.0) * np.float32(-1.0 / (0.028 * width)))
        light = (1.0 - 0.08 * lip_shadow) * columns.corner_light
        # One contiguous plane per channel: broadcasting over channels is slow.
        dark = cavity * (1.0 - tongue) * light
        lit = tongue_shade * tongue * light
        planes = [
            dark * float(back) + lit * float(flesh)
            for back, flesh in zip(self._cavity, self._tongue, strict=True)
        ]
        lower_share = min(max((columns.centre_gap / width - 0.2) / 0.15, 0.0), 1.0)
        if lower_share > 0.0:
            covered = self._lower_teeth_cover(columns, rows, lower_share) * light
            for plane, value in zip(planes, self._lower_teeth, strict=True):
                plane += covered * (float(value) - plane)
        if self._teeth is not None:
            teeth = cv2.split(self._teeth.placed(box, opening.teeth_shift))
            # Parted a little, the lips show the teeth's edge with a dark sliver under
            # it: the lower lip's inner edge stays an edge against the dark, not the
            # teeth (a viewer, and a landmark detector, would read teeth touching the
            # lower lip as lip).
            under = _unit(columns.teeth_limit - rows + 0.5)
            behind = 1.0 - teeth[3] * under
            lit_teeth = columns.corner_light * under
            for plane, tooth, strength in zip(planes, teeth[:3], _OCCLUSION, strict=True):
                occlusion = 1.0 - lip_shadow * strength
                plane *= behind
                plane += tooth * occlusion * lit_teeth
        if opening.tongue_tip <= 0.0:
            return cv2.merge(planes), None
        covered, tip_shade = self._tip(columns, rows, opening, teeth_visible, daylight)
        if not tip:
            return cv2.merge(planes), (covered, tinted(tip_shade, self._tip_colour))
        for plane, value in zip(planes, self._tip_colour, strict=True):
            plane += (tip_shade * float(value) - plane) * covered
        return cv2.merge(planes), None

    def _tip(
        self,
        columns: _Columns,
        rows: np.ndarray,
        opening: OpeningShape,
        teeth_visible: float,
        daylight: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Coverage of the tongue tip and its shade (its colour's factor), both (h, w)."""
        covered, shade = self._tongue_tip(columns, rows, opening.tongue_tip, teeth_visible)
        return covered, shade * np.float32(0.85 + 0.15 * daylight)

    def _tongue_body(
        self,
        columns: _Columns,
        rows: np.ndarray,
        above_lip: np.ndarray,
        opening: OpeningShape,
        teeth_visible: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Coverage and shade of the tongue's arch behind the lower lip."""
        gap = columns.centre_gap
        low = 0.3 * gap
        reach = gap - 0.9 * teeth_visible
        top_height = low + min(max(opening.tongue, 0.0), 1.0) * max(reach - low, 0.0)
        # A mound: its top is an arch over the deepest point of the lower lip, not a copy
        # of the lip's curve (that would read as a second lip).
        top = columns.lower_centre - top_height * columns.arch
        into = rows - top
        covered = _unit(into * np.float32(1.0 / 1.2) + 0.5) * columns.in_arch
        # Its back (the top edge here) recedes into the dark, its sides too, and the
        # lower lip shades the part just behind it; a faint groove runs down its middle.
        depth = _unit(into * np.float32(1.0 / max(top_height, 1.0)))
        # Brightest a little below its top edge: 0.82 at the edge, 0.94 at 0.6, 0.9 deep.
        shade = (0.82 + depth * (0.4 - 0.32 * depth)) * columns.tongue_sides
        # The lower lip's contact shadow: a dark line where the tongue meets it keeps
        # the lip's inner edge an edge (the tongue must not read as more lip).
        behind_lip = _unit(above_lip * np.float32(1.0 / (0.045 * self._width)))
        shade *= 0.55 + 0.45 * behind_lip
        return covered, shade

    def _tongue_tip(
        self,
        columns: _Columns,
        rows: np.ndarray,
        amount: float,
        teeth_visible: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Coverage and shade of the tongue tip between the teeth (th), in front of them.

        The tip rises from the lower lip to just below the upper teeth's edge,
        covering the lower part of what the opening shows of them, so it shows at
        any opening; it is narrower than the tongue and rounded at the front.
        """
        gap = columns.centre_gap
        # Between the teeth it leaves the upper third of their visible height.
        height = amount * max(gap - 0.33 * min(teeth_visible, gap), 0.0)
        top = columns.lower_centre - height * columns.tip_arch
        into = rows - top
        above_lip = columns.lower - rows
        covered = _unit(into + 0.5) * columns.in_tip
        covered *= np.float32(amount)
        # Lit from the front, a wet sheen just below its top, its sides turning away,
        # and a fine shadow where it rests on the lower lip.
        depth = _unit(into * np.float32(1.0 / max(height, 1.0)))
        # A wet sheen a third of the way down (1.05), 0.92 at its edge and base.
        shade = (0.92 + 1.2 * depth * (1.0 - depth) ** 2) * columns.tip_sides
        shade *= 0.78 + 0.22 * _unit(above_lip * np.float32(1.0 / 1.5))
        return covered, shade

    def _lower_teeth_cover(self, columns: _Columns, rows: np.ndarray, share: float) -> np.ndarray:
        """Coverage of the lower incisors' edges above the lower lip (wide vowels)."""
        height = share * _LOWER_TEETH_HEIGHT * self._width * columns.lower_teeth_height
        covered = _unit(rows - (columns.lower - height) + 0.5)
        return covered * columns.lower_teeth_cover


class _Columns:
    """Per-column quantities of one opening: lip edges, place across the mouth."""

    def __init__(self, xs: np.ndarray, opening: OpeningShape) -> None:
        upper, lower = opening.upper, opening.lower
        self.upper = _edge_rows(upper, xs)
        self.lower = _edge_rows(lower, xs)
        self.teeth_limit = self.upper + _TEETH_GAP_SHARE * (self.lower - self.upper)
        centre_x = float(upper[0, 0] + upper[-1, 0]) / 2
        half = max(abs(float(upper[-1, 0] - upper[0, 0])) / 2, 1.0)
        across = np.clip((xs - centre_x) / half, -1.0, 1.0)
        centre = np.array([centre_x], dtype=np.float32)
        upper_centre = float(_edge_rows(upper, centre)[0, 0])
        self.lower_centre = float(_edge_rows(lower, centre)[0, 0])
        self.centre_gap = max(0.0, self.lower_centre - upper_centre)
        squared = across**2
        self.corner_light = (1.0 - 0.3 * smoothstep(0.65, 1.0, np.abs(across)))[None, :]
        self.arch = np.sqrt(_unit(1.0 - squared / 0.5625))[None, :]
        self.in_arch = (self.arch > 0.0).astype(np.float32)
        sides = (1.0 - 0.35 * squared) * (1.0 - 0.06 * np.exp(-squared / 0.01))
        self.tongue_sides = sides[None, :].astype(np.float32)
        self.tip_arch = np.sqrt(_unit(1.0 - squared / 0.2025))[None, :]
        self.in_tip = (self.tip_arch > 0.0).astype(np.float32)
        self.tip_sides = (1.0 - 0.5 * squared / 0.2025).clip(0.5, 1.0)[None, :]
        self.lower_teeth_height = (1.0 - 0.5 * squared)[None, :]
        self.lower_teeth_cover = (_unit((0.45 - np.abs(across)) / 0.2) * 0.55)[None, :]


def _edge_rows(curve: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The curve's row at each column (the curve read as a function of x), (1, W)."""
    order = np.argsort(curve[:, 0])
    rows = np.interp(xs, curve[order, 0], curve[order, 1])
    return rows.astype(np.float32)[None, :]


def tooth_relief(u: np.ndarray, width: float) -> np.ndarray:
    """Brightness of rounded teeth side by side: lighter in each tooth's middle,
    a soft darker line where two teeth meet.

    Args:
        u: Distance along the face's horizontal from the mouth's centre, pixels.
        width: The mouth width in pixels.
    """
    position = np.abs(u) / max(width, 1.0)
    tooth = np.interp(position, _TOOTH_BORDERS, np.arange(len(_TOOTH_BORDERS)))
    index = np.minimum(tooth.astype(np.int32), len(_TOOTH_BORDERS) - 2)
    fraction = tooth - index
    tooth_pixels = np.diff(_TOOTH_BORDERS)[index] * width
    to_border = np.minimum(fraction, 1.0 - fraction) * tooth_pixels
    convex = 1.0 - 0.1 * (2.0 * fraction - 1.0) ** 2
    return convex * (1.0 - 0.22 * np.exp(-((to_border / 0.7) ** 2)))


def warm_shade(shade: np.ndarray) -> np.ndarray:
    """Per-channel RGB factors (..., 3) for a shade (...): darker shades turn warmer."""
    return np.clip(shade, 1e-3, 1.0)[..., None] ** _WARM_SHADE


def smoothstep(low: float, high: float, value: np.ndarray) -> np.ndarray:
    """0 below ``low``, 1 above ``high``, a smooth S between."""
    t = _unit((value - low) * (1.0 / (high - low)))
    return t * t * (3.0 - 2.0 * t)


def _unit(value: np.ndarray) -> np.ndarray:
    """``value`` clamped to 0-1 (two ufuncs: cheaper than ``np.clip`` on small arrays)."""
    return np.minimum(np.maximum(value, 0.0), 1.0)
