"""An outside observer of rendered frames: landmarks found afresh in every frame.

The animator's rig knows where it put every lip and lid; a test that asked the rig
would only check the rig against itself. :class:`FaceObserver` instead runs dlib's
HOG face detector and its 68-point shape predictor on each frame from scratch (no
face box, no landmark carried over from the photo or from the previous frame), so
it judges the pixels as any viewer would. The helpers below turn its measurements
into what the acceptance criteria speak of: mouth opening against loudness, lip
closure, blinks and head motion.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import dlib
import numpy as np

from avatar_animator.face import default_predictor_path

INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))
# Points that move only with the head: nose bridge and eye corners.
STABLE_POINTS = (27, 28, 29, 30, 36, 39, 42, 45)


@dataclass(frozen=True, slots=True)
class Observation:
    """The 68 landmarks found in one frame, and measures derived from them."""

    points: np.ndarray

    @property
    def lip_gap(self) -> float:
        """Mean vertical distance (pixels) between facing inner-lip landmarks."""
        return float(
            np.mean([self.points[low, 1] - self.points[up, 1] for up, low in INNER_LIP_PAIRS])
        )

    @property
    def mouth_width(self) -> float:
        """Distance between the outer mouth corners (pixels)."""
        return float(np.linalg.norm(self.points[54] - self.points[48]))

    @property
    def eye_aspect_ratio(self) -> float:
        """Soukupova-Cech eye aspect ratio, both eyes averaged: ~0.3 open, near 0 shut."""
        ratios = []
        for first in (36, 42):
            eye = self.points[first : first + 6]
            vertical = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
            ratios.append(vertical / (2.0 * np.linalg.norm(eye[0] - eye[3])))
        return float(np.mean(ratios))

    @property
    def head_centre(self) -> np.ndarray:
        """Mean position of the points that move only with the head (x, y pixels)."""
        return self.points[list(STABLE_POINTS)].mean(axis=0)

    @property
    def roll_degrees(self) -> float:
        """Angle of the line through the outer eye corners."""
        dx, dy = self.points[45] - self.points[36]
        return math.degrees(math.atan2(dy, dx))

    @property
    def eye_distance(self) -> float:
        """Distance between the outer eye corners (pixels): the face's scale."""
        return float(np.linalg.norm(self.points[45] - self.points[36]))


class FaceObserver:
    """Finds the face and fits 68 landmarks in each frame independently.

    At frame size (the default) dlib's predictor runs once on the frame. With
    ``scales`` and ``shifts``, the face is found at frame size, then the landmarks
    are fitted on several enlarged copies of the frame (cubic resampling): one per
    scale and shift, the shift moving the copy by that many of its own pixels along
    both axes (one pixel of a copy enlarged 2x is half a frame pixel). Each copy's
    points are mapped back to the frame and each landmark's median over the copies
    is reported. dlib's points are whole pixels and its model knows faces larger
    than a 512 px frame's, so enlarging reads a lip a few pixels thick to a fraction
    of a pixel; and a fit that slips on one copy's pixel grid (a few pixels off on
    one frame, with the frames around it read right) is outvoted by the others,
    while a lip that is really thinner is seen by every copy and stays thinner in
    the median. Each frame is still judged on its own pixels alone.
    """

    def __init__(self, scales: Sequence[float] = (1.0,), shifts: Sequence[float] = (0.0,)) -> None:
        """Loads dlib's detector and predictor.

        Args:
            scales: Enlargements of the frame the landmarks are fitted on (>= 1).
            shifts: Offsets of each enlarged copy, in its own pixels (both axes).

        Raises:
            ValueError: A scale below 1, or no scale or shift at all.
        """
        if not scales or not shifts or min(scales) < 1.0:
            raise ValueError(f"need scales >= 1 and at least one shift: {scales}, {shifts}")
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(default_predictor_path()))
        self._copies = [(float(scale), float(shift)) for scale in scales for shift in shifts]

    def observe(self, frame: np.ndarray) -> Observation:
        """Landmarks of the largest face in an RGB frame.

        Raises:
            AssertionError: No face is found (a rendered frame must show one).
        """
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        faces = sorted(self._detector(gray, 0), key=lambda box: box.area(), reverse=True)
        assert faces, "the observer found no face in a rendered frame"
        box = faces[0]
        if self._copies == [(1.0, 0.0)]:
            return Observation(_points(self._predictor(gray, box)))
        # Only the face (with a margin for the predictor's reach) is enlarged.
        margin = box.width() // 4
        left, top = max(box.left() - margin, 0), max(box.top() - margin, 0)
        right = min(box.right() + margin + 1, gray.shape[1])
        bottom = min(box.bottom() + margin + 1, gray.shape[0])
        crop = np.ascontiguousarray(gray[top:bottom, left:right])
        corners = np.array([[box.left(), box.top()], [box.right(), box.bottom()]]) - (left, top)
        fits = [self._fit(crop, corners, scale, shift) for scale, shift in self._copies]
        return Observation(np.median(fits, axis=0) + (left, top))

    def _fit(self, crop: np.ndarray, corners: np.ndarray, scale: float, shift: float) -> np.ndarray:
        """The landmarks fitted on one enlarged, shifted copy, in the crop's pixels."""
        # Crop pixel k's area maps onto the copy's [scale * k - 0.5, scale * (k + 1) - 0.5]
        # (plus the shift): its centre lands at scale * k + offset.
        offset = shift + 0.5 * scale - 0.5
        matrix = np.array([[scale, 0.0, offset], [0.0, scale, offset]])
        size = (round(crop.shape[1] * scale), round(crop.shape[0] * scale))
        copy = cv2.warpAffine(
            crop, matrix, size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
        )
        (x0, y0), (x1, y1) = np.round(corners * scale + offset).astype(int)
        points = _points(self._predictor(copy, dlib.rectangle(x0, y0, x1, y1)))
        return (points - offset) / scale


def _points(shape: dlib.full_object_detection) -> np.ndarray:
    """The 68 fitted points as a (68, 2) float array of (x, y) pixels."""
    return np.array([(part.x, part.y) for part in shape.parts()], dtype=float)


def loudness_per_frame(samples: np.ndarray, sample_rate: int, fps: float, count: int) -> np.ndarray:
    """RMS level of the audio in each frame's period, centred on the frame's time."""
    audio = samples.astype(np.float64)
    levels = np.zeros(count)
    half = 0.5 * sample_rate / fps
    for index in range(count):
        centre = index * sample_rate / fps
        window = audio[max(0, round(centre - half)) : max(0, round(centre + half))]
        levels[index] = math.sqrt(float(np.mean(window**2))) if window.size else 0.0
    return levels


def lagged_correlations(first: np.ndarray, second: np.ndarray, lags: range) -> dict[int, float]:
    """Pearson r of ``first[k + lag]`` against ``second[k]`` for each lag (frames)."""
    result = {}
    for lag in lags:
        if lag >= 0:
            a, b = first[lag:], second[: len(second) - lag]
        else:
            a, b = first[:lag], second[-lag:]
        result[lag] = float(np.corrcoef(a, b)[0, 1])
    return result


def blinks(eye_ratios: np.ndarray, share_of_open: float = 0.6) -> list[tuple[int, int]]:
    """Runs of frames (first, last) where the eyes close: the eye aspect ratio falls
    below ``share_of_open`` of its median (the open-eye value)."""
    closed = eye_ratios < share_of_open * float(np.median(eye_ratios))
    runs, start = [], None
    for index, shut in enumerate(closed):
        if shut and start is None:
            start = index
        elif not shut and start is not None:
            runs.append((start, index - 1))
            start = None
    if start is not None:
        runs.append((start, len(closed) - 1))
    return runs
