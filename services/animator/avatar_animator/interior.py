"""The drawn inside of an open mouth: a cavity with depth, the tongue and the teeth.

:func:`paint_interior` renders, in a small box around the opening, what a
camera sees between parted lips, back to front:

* the cavity: dark but not black, lit a little near the lips and darkest deep
  inside and in the corners;
* the tongue: a soft arch rising from behind the lower lip; low on open vowels,
  up against the upper teeth on l, t, d, n and th;
* a hint of lower teeth above the lower lip when the jaw drops wide;
* the upper teeth hanging from the upper lip: per-tooth convex shading with
  soft borders between the teeth, the upper lip's shadow at the top, a slightly
  translucent edge, fading into the dark towards the corners. They reach up
  under the lip, so no dark line separates lip and teeth.

Positions are measured along the face's own axes, so a tilted head keeps its
teeth level with its lips. All coverage is anti-aliased; the caller softens and
grains the result to match the photo (:mod:`avatar_animator.photo_look`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Borders between teeth, in mouth widths from the midline: incisors, canines, premolars.
_TOOTH_BORDERS = np.array([0.0, 0.1, 0.18, 0.25, 0.31, 0.36, 0.6])
# Visible height of the upper central incisors, in mouth widths.
_UPPER_TEETH_HEIGHT = 0.085
# Lower teeth show this high (mouth widths) when the jaw is dropped wide.
_LOWER_TEETH_HEIGHT = 0.025


@dataclass(frozen=True, slots=True)
class InteriorColours:
    """Colours (RGB float, 0-255) of one photo's mouth interior.

    Attributes:
        cavity: The cavity's colour at mid depth.
        tongue: The tongue's colour where it is best lit.
        teeth: The teeth's colour where they are best lit.
    """

    cavity: np.ndarray
    tongue: np.ndarray
    teeth: np.ndarray


@dataclass(frozen=True, slots=True)
class OpeningShape:
    """Where the lips are in one frame, in box pixels.

    Attributes:
        upper: The upper inner lip edge, points (N, 2) from one corner to the other.
        lower: The lower inner lip edge, points (M, 2) from one corner to the other.
        axis_x: The face's horizontal unit vector.
        axis_y: The face's vertical unit vector (down).
        mouth_width: The photo's mouth width in pixels.
    """

    upper: np.ndarray
    lower: np.ndarray
    axis_x: np.ndarray
    axis_y: np.ndarray
    mouth_width: float


def paint_interior(
    size: tuple[int, int],
    opening: OpeningShape,
    colours: InteriorColours,
    *,
    tongue: float,
    upper_teeth: bool,
) -> np.ndarray:
    """Renders the interior into a box.

    Args:
        size: Box (height, width).
        opening: The lip edges in box pixels.
        colours: The photo's interior colours.
        tongue: Tongue height, 0 (low) to 1 (against the upper teeth).
        upper_teeth: Whether to draw upper teeth (False when the photo's own are used).

    Returns:
        (height, width, 3) float32 RGB.
    """
    frame = _OpeningFrame(size, opening)
    width = opening.mouth_width
    teeth_height = _UPPER_TEETH_HEIGHT * width * (1.0 - 0.35 * frame.across**2)
    teeth_visible = np.minimum(teeth_height, frame.gap)
    # Light gets in through the opening: a mouth barely parted is dark inside, the
    # tongue in it far darker than the lips around it.
    daylight = float(np.clip(frame.centre_gap / (0.2 * width), 0.0, 1.0))
    colour = _cavity(frame, colours.cavity, width) * (0.7 + 0.3 * daylight)
    covered, tongue_colour = _tongue(frame, colours.tongue, tongue, teeth_visible)
    colour += (tongue_colour * (0.45 + 0.55 * daylight) - colour) * covered[..., None]
    relief = _tooth_relief(frame.u, width)
    lower_share = float(np.clip((frame.centre_gap / width - 0.2) / 0.15, 0.0, 1.0))
    if lower_share > 0.0:
        covered, teeth_colour = _lower_teeth(frame, colours.teeth, lower_share, relief)
        colour += (teeth_colour - colour) * covered[..., None]
    if upper_teeth:
        covered, teeth_colour = _upper_teeth(frame, colours.teeth, teeth_height, relief)
        colour += (teeth_colour - colour) * covered[..., None]
    # The upper lip shades everything just below it; the corners are in the cheeks' shadow.
    below_lip = np.maximum(frame.v - frame.upper_v, 0.0)
    light = 1.0 - 0.08 * np.exp(-below_lip / (0.03 * width))
    light *= 1.0 - 0.3 * _smoothstep(0.65, 1.0, np.abs(frame.across))
    return colour * light[..., None]


class _OpeningFrame:
    """Per-pixel coordinates of a box relative to the opening.

    ``u`` runs along the face's horizontal from the opening's centre, ``v`` down
    its vertical; ``upper_v`` and ``lower_v`` are the lip edges above and below
    each pixel, ``across`` is -1 at one corner and 1 at the other.
    """

    def __init__(self, size: tuple[int, int], opening: OpeningShape) -> None:
        height, width = size
        centre = (opening.upper[0] + opening.upper[-1]) / 2
        ys = np.arange(height, dtype=np.float32)[:, None] - np.float32(centre[1])
        xs = np.arange(width, dtype=np.float32)[None, :] - np.float32(centre[0])
        axis_x = opening.axis_x.astype(np.float32)
        axis_y = opening.axis_y.astype(np.float32)
        self.u = xs * axis_x[0] + ys * axis_x[1]
        self.v = xs * axis_y[0] + ys * axis_y[1]
        self.upper_v = _curve_height(opening.upper - centre, axis_x, axis_y, self.u)
        self.lower_v = _curve_height(opening.lower - centre, axis_x, axis_y, self.u)
        self.gap = np.maximum(self.lower_v - self.upper_v, 0.0)
        corners = (opening.upper[[0, -1]] - centre) @ opening.axis_x
        half = max(float(np.abs(corners).max()), 1.0)
        self.across = np.clip(self.u / half, -1.0, 1.0)
        origin = np.zeros((1, 1), dtype=np.float32)
        upper_mid = _curve_height(opening.upper - centre, axis_x, axis_y, origin)
        lower_mid = _curve_height(opening.lower - centre, axis_x, axis_y, origin)
        self.centre_gap = max(0.0, float(lower_mid[0, 0] - upper_mid[0, 0]))
        self.lower_centre = float(lower_mid[0, 0])
        self.width_pixels = opening.mouth_width


def _curve_height(
    curve: np.ndarray, axis_x: np.ndarray, axis_y: np.ndarray, u: np.ndarray
) -> np.ndarray:
    """The curve's v at each u (the curve read as a function of u)."""
    curve_u = curve @ axis_x
    curve_v = curve @ axis_y
    order = np.argsort(curve_u)
    flat = np.interp(u.ravel(), curve_u[order], curve_v[order])
    return flat.reshape(u.shape).astype(np.float32)


def _cavity(frame: _OpeningFrame, colour: np.ndarray, width: float) -> np.ndarray:
    """The cavity: light reaches a little past the lips, the depth stays dark."""
    from_lips = np.maximum(np.minimum(frame.v - frame.upper_v, frame.lower_v - frame.v), 0.0)
    glow = np.exp(-from_lips / (0.045 * width))
    return colour.astype(np.float32) * (0.65 + 0.55 * glow)[..., None]


def _tongue(
    frame: _OpeningFrame,
    colour: np.ndarray,
    height: float,
    teeth_visible: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Coverage and colour of the tongue's arch behind the lower lip."""
    low = 0.38 * frame.centre_gap
    reach = frame.centre_gap - 0.9 * float(np.max(teeth_visible, initial=0.0))
    top_height = low + float(np.clip(height, 0.0, 1.0)) * max(reach - low, 0.0)
    # A mound: its top is an arch over the deepest point of the lower lip, not a copy
    # of the lip's curve (that would read as a second lip).
    arch = np.sqrt(np.clip(1.0 - (frame.across / 0.75) ** 2, 0.0, 1.0))
    top = frame.lower_centre - top_height * arch
    covered = np.clip((frame.v - top) / 1.2 + 0.5, 0.0, 1.0) * (arch > 0.0)
    # The tongue's back (its top edge here) recedes into the dark, its sides too, and
    # the lower lip and teeth shade the part just behind them; a faint groove runs
    # down its middle.
    depth = np.clip((frame.v - top) / max(top_height, 1.0), 0.0, 1.0)
    shade = (0.75 + 0.25 * np.sin(np.pi * np.minimum(0.15 + depth, 1.0))) * (
        1.0 - 0.35 * frame.across**2
    )
    behind_lip = np.clip((frame.lower_v - frame.v) / (0.03 * frame.width_pixels), 0.0, 1.0)
    shade *= 0.8 + 0.2 * behind_lip
    shade *= 1.0 - 0.06 * np.exp(-((frame.across / 0.1) ** 2))
    return covered, colour.astype(np.float32) * shade[..., None]


def _lower_teeth(
    frame: _OpeningFrame, colour: np.ndarray, share: float, relief: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Coverage and colour of the lower incisors' edges above the lower lip."""
    width = frame.width_pixels
    height = share * _LOWER_TEETH_HEIGHT * width * (1.0 - 0.5 * frame.across**2)
    top = frame.lower_v - height
    covered = np.clip((frame.v - top) + 0.5, 0.0, 1.0)
    covered *= np.clip((0.45 - np.abs(frame.across)) / 0.2, 0.0, 1.0) * 0.55
    shade = 0.85 * relief
    return covered, colour.astype(np.float32) * shade[..., None]


def _upper_teeth(
    frame: _OpeningFrame, colour: np.ndarray, height: np.ndarray, relief: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Coverage and colour of the upper teeth below the upper lip."""
    width = frame.width_pixels
    bottom = frame.upper_v + height
    covered = np.clip(bottom - frame.v + 0.5, 0.0, 1.0)
    # Beyond the canines the teeth turn away into the cheeks' dark corridor.
    covered *= np.clip((0.92 - np.abs(frame.across)) / 0.15, 0.0, 1.0)
    below_lip = np.maximum(frame.v - frame.upper_v, 0.0)
    depth = np.clip(below_lip / np.maximum(height, 1.0), 0.0, 1.0)
    shade = 1.0 - 0.15 * np.exp(-below_lip / (0.03 * width))  # the lip's shadow
    shade *= 1.0 - 0.15 * _smoothstep(0.7, 1.0, depth)  # the thin, translucent edge
    # Teeth turn away from the light past the canines.
    shade *= (1.0 - 0.4 * _smoothstep(0.3, 1.0, np.abs(frame.across))) * relief
    return covered, colour.astype(np.float32) * shade[..., None]


def _tooth_relief(u: np.ndarray, width: float) -> np.ndarray:
    """Brightness of rounded teeth side by side: lighter in each tooth's middle,
    a soft darker line where two teeth meet."""
    position = np.abs(u) / max(width, 1.0)
    tooth = np.interp(position, _TOOTH_BORDERS, np.arange(len(_TOOTH_BORDERS)))
    index = np.minimum(tooth.astype(np.int32), len(_TOOTH_BORDERS) - 2)
    fraction = tooth - index
    tooth_pixels = np.diff(_TOOTH_BORDERS)[index] * width
    to_border = np.minimum(fraction, 1.0 - fraction) * tooth_pixels
    convex = 1.0 - 0.1 * (2.0 * fraction - 1.0) ** 2
    return (convex * (1.0 - 0.22 * np.exp(-((to_border / 0.7) ** 2)))).astype(np.float32)


def _smoothstep(low: float, high: float, value: np.ndarray) -> np.ndarray:
    """0 below ``low``, 1 above ``high``, a smooth S between."""
    t = np.clip((value - low) / (high - low), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
