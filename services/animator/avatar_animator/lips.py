"""Finding the real inner edge of the lips in a photo.

dlib gives eight inner-lip points; between them a smile's lip edge curves, and
a straight chord leaves slivers of teeth inside the "lip" triangles that stay
visible when the mouth closes. :func:`inner_lip_midpoints` adds one point per
chord, pushed out along the chord's normal to where teeth (bright, low Lab a*)
or the dark cavity give way to lip colour.

On a closed mouth dlib's inner points can sit a few pixels inside a lip (on
paintings, under moustaches); opened there, the mouth would swallow that strip of
lip. :func:`closed_lip_seam` moves them onto the dark line where the lips meet.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

INNER_LIP_ORDER = (60, 61, 62, 63, 64, 65, 66, 67)
"""Inner-lip landmarks in contour order; midpoint k lies between entries k and k + 1."""


def closed_lip_seam(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Landmarks whose inner lips of a closed mouth lie on the photo's lip seam.

    For each facing pair of inner-lip points, the column under them is searched,
    between the inner thirds of the two lips, for its darkest row; when that row
    is clearly darker than the lips around it, both points move onto it.

    Args:
        image: RGB uint8 photo.
        landmarks: Landmarks (68, 2).

    Returns:
        A copy of the landmarks, inner lips moved where a seam was found.
    """
    points = np.asarray(landmarks, dtype=np.float64).copy()
    mouth_width = float(np.linalg.norm(points[54] - points[48]))
    contour = points[list(INNER_LIP_ORDER)].astype(np.float32)
    if cv2.contourArea(contour) >= 0.02 * mouth_width**2:
        return points  # open: the opening itself is the edge
    gray = cv2.GaussianBlur(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32), (3, 3), 0)
    height, width = gray.shape
    for (upper, lower), (outer_top, outer_bottom) in zip(
        ((61, 67), (62, 66), (63, 65)), ((50, 58), (51, 57), (52, 56)), strict=True
    ):
        x = int(round((points[upper, 0] + points[lower, 0]) / 2))
        top = points[outer_top, 1] + 0.35 * (points[upper, 1] - points[outer_top, 1])
        bottom = points[outer_bottom, 1] - 0.35 * (points[outer_bottom, 1] - points[lower, 1])
        rows = np.arange(int(np.floor(top)), int(np.ceil(bottom)) + 1)
        rows = rows[(rows >= 0) & (rows < height)]
        if len(rows) < 3 or not 1 <= x < width - 1:
            continue
        column = gray[rows, x - 1 : x + 2].mean(axis=1)
        darkest = int(np.argmin(column))
        if column[darkest] > np.median(column) - 8.0:
            continue  # no clear seam: trust the landmarks
        # The seam's shadow goes with the upper lip (it overhangs): opened, its inner
        # edge stays dark and the lower lip keeps all of its colour.
        dark = column < (column[darkest] + np.median(column)) / 2
        last = darkest
        while last + 1 < len(rows) and dark[last + 1]:
            last += 1
        points[upper, 1], points[lower, 1] = float(rows[last]), float(rows[last]) + 1.0
    return points


def inner_lip_midpoints(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """One point on the lip edge between each pair of neighbouring inner-lip landmarks.

    Args:
        image: RGB uint8 photo.
        landmarks: Mesh landmark positions (68, 2).

    Returns:
        Array (8, 2): the chord midpoints, each pushed out onto the lip edge when
        the photo shows an open mouth (at most 6% of the mouth width).
    """
    contour = landmarks[list(INNER_LIP_ORDER)].astype(np.float64)
    following = np.roll(contour, -1, axis=0)
    midpoints = (contour + following) / 2
    mouth_width = float(np.linalg.norm(landmarks[54] - landmarks[48]))
    if cv2.contourArea(contour.astype(np.float32)) < 0.02 * mouth_width**2:
        return midpoints  # closed or nearly closed: the chords are the edge
    is_opening = _opening_classifier(image, landmarks)
    if is_opening is None:
        return midpoints
    centre = contour.mean(axis=0)
    steps = np.arange(0.0, 0.06 * mouth_width, 0.5)
    for index, (start, end) in enumerate(zip(contour, following, strict=True)):
        chord = end - start
        normal = np.array([-chord[1], chord[0]]) / max(np.linalg.norm(chord), 1e-6)
        if normal @ (centre - midpoints[index]) > 0:
            normal = -normal  # point out of the opening, into the lip
        samples = midpoints[index] + steps[:, None] * normal
        lip = ~is_opening(samples)
        # Walk out until two lip samples in a row: the edge. Points only ever move
        # outwards, so the opening's mesh covers every tooth and closes over it.
        runs = lip[:-1] & lip[1:]
        edge = int(np.argmax(runs)) if runs.any() else len(steps) - 1
        midpoints[index] = samples[edge]
    return midpoints


def _opening_classifier(
    image: np.ndarray, landmarks: np.ndarray
) -> Callable[[np.ndarray], np.ndarray] | None:
    """A function telling opening pixels (teeth, cavity) from lip pixels, or None.

    Thresholds come from the photo's own lip colour, measured on the ring between
    the outer and inner lip contours.
    """
    outer = np.round(landmarks[48:60]).astype(np.int32)
    inner = np.round(landmarks[list(INNER_LIP_ORDER)]).astype(np.int32)
    left, top = np.maximum(outer.min(axis=0) - 4, 0)
    right, bottom = outer.max(axis=0) + 5
    box = image[top:bottom, left:right]
    if box.size == 0:
        return None
    lab = cv2.cvtColor(box, cv2.COLOR_RGB2LAB).astype(np.float32)
    ring = np.zeros(box.shape[:2], dtype=np.uint8)
    cv2.fillPoly(ring, [outer - (left, top)], 1)
    cv2.fillPoly(ring, [inner - (left, top)], 0)
    lip = lab[ring.astype(bool)]
    if len(lip) < 10:
        return None
    lip_lightness, lip_redness = np.median(lip[:, 0]), np.median(lip[:, 1])

    def is_opening(points: np.ndarray) -> np.ndarray:
        """Whether each (x, y) point falls on teeth or cavity rather than lip."""
        xs = np.clip(np.round(points[:, 0] - left).astype(int), 0, box.shape[1] - 1)
        ys = np.clip(np.round(points[:, 1] - top).astype(int), 0, box.shape[0] - 1)
        lightness, redness = lab[ys, xs, 0], lab[ys, xs, 1]
        teeth = (redness < lip_redness - 6) & (lightness > lip_lightness)
        cavity = lightness < 0.6 * lip_lightness
        return teeth | cavity

    return is_opening
