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

    With ``upscale`` above 1 the landmarks are fitted on the frame enlarged that
    many times (cubic), in the box found at frame size: dlib's points are whole
    pixels and its model knows faces larger than a 512 px frame's, so a lip a few
    pixels thick reads to a fraction of a pixel instead of to the pixel.
    """

    def __init__(self, upscale: int = 1) -> None:
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(default_predictor_path()))
        self._upscale = upscale

    def observe(self, frame: np.ndarray) -> Observation:
        """Landmarks of the largest face in an RGB frame.

        Raises:
            AssertionError: No face is found (a rendered frame must show one).
        """
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        faces = sorted(self._detector(gray, 0), key=lambda box: box.area(), reverse=True)
        assert faces, "the observer found no face in a rendered frame"
        box, scale = faces[0], self._upscale
        if scale > 1:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
            box = dlib.rectangle(
                box.left() * scale, box.top() * scale, box.right() * scale, box.bottom() * scale
            )
        shape = self._predictor(gray, box)
        points = np.array([(part.x, part.y) for part in shape.parts()], dtype=float)
        # A point at whole pixel k of the enlarged frame is at (k + 0.5) / scale - 0.5.
        return Observation((points + 0.5) / scale - 0.5)


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
