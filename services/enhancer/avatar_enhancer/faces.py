"""Where the face is: five landmarks per frame, found with OpenCV's bundled cascades.

Face restoration models are trained on faces aligned to the FFHQ template by five
points (eye centres, nose tip, mouth corners). A caller that knows them (the animator
does) may send them with each frame; otherwise :class:`FaceLocator` finds the face
with the Haar cascades inside the ``opencv-python-headless`` wheel (no model download,
no other unit's code) and places the points from the face box and, when both are seen,
the eyes. :class:`LandmarkSmoother` steadies them along a stream, so the crop the
model sees does not jitter from frame to frame.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

# The FFHQ alignment template: left eye, right eye, nose tip, left and right mouth
# corner (image left and right), as fractions of the aligned crop's side.
FFHQ_TEMPLATE = (
    np.array(
        [
            [192.98138, 239.94708],
            [318.90277, 240.19360],
            [256.63416, 314.01935],
            [201.26117, 371.41043],
            [313.08905, 371.15118],
        ],
        dtype=np.float32,
    )
    / 512.0
)
# Where the eye centres sit in a frontal-face cascade's box, as fractions of its side
# (measured on frontal portraits; the box itself varies by a few per cent).
BOX_EYES = np.array([[0.29, 0.385], [0.71, 0.385]], dtype=np.float32)
# Faces are searched for on a copy this many pixels on its longer side: the cascade's
# cost grows with the area, and a talking head fills much of the frame.
SEARCH_SIDE = 320
# Eyes are searched for in the face box scaled to this width.
EYE_SEARCH_WIDTH = 160


@dataclass(frozen=True, slots=True)
class FaceLandmarks:
    """Five points of one face, in the frame's pixels.

    Attributes:
        points: 5 x 2 float32: left eye centre, right eye centre, nose tip, left and
            right mouth corner (left and right as seen in the image).
    """

    points: np.ndarray

    @classmethod
    def from_values(cls, values) -> FaceLandmarks:
        """Builds landmarks from 10 numbers ``x0, y0, ..., x4, y4``.

        Raises:
            ValueError: Not 10 finite numbers, or the eyes are on top of each other.
        """
        points = np.asarray(values, dtype=np.float32)
        if points.size != 10 or not np.all(np.isfinite(points)):
            raise ValueError(f"face landmarks are 10 finite numbers, got {points.size}")
        points = points.reshape(5, 2)
        if eye_distance(points) < 2.0:
            raise ValueError("face landmarks put the eyes less than 2 pixels apart")
        return cls(points)

    def scaled(self, factor: float) -> FaceLandmarks:
        """The same face in a frame scaled by ``factor``."""
        return FaceLandmarks(self.points * np.float32(factor))


def eye_distance(points: np.ndarray) -> float:
    """Pixels between the two eye centres of a 5 x 2 point array."""
    return float(np.linalg.norm(points[1] - points[0]))


def _points_from_eyes(eyes: np.ndarray) -> np.ndarray:
    """All five points from the two eye centres, with the template's proportions."""
    transform, _ = cv2.estimateAffinePartial2D(FFHQ_TEMPLATE[:2], eyes)
    homogeneous = np.hstack([FFHQ_TEMPLATE, np.ones((5, 1), np.float32)])
    return (homogeneous @ transform.T).astype(np.float32)


class FaceLocator:
    """Finds the largest frontal face of a frame and places its five landmarks.

    Pure per frame: the same frame always gives the same points. Thread-safe: each
    thread gets its own cascades (OpenCV's cascade classifier is not re-entrant).
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def _cascades(self) -> tuple[cv2.CascadeClassifier, cv2.CascadeClassifier]:
        if not hasattr(self._local, "face"):
            directory = cv2.data.haarcascades
            self._local.face = cv2.CascadeClassifier(
                directory + "haarcascade_frontalface_default.xml"
            )
            self._local.eye = cv2.CascadeClassifier(directory + "haarcascade_eye.xml")
            if self._local.face.empty() or self._local.eye.empty():
                raise RuntimeError(f"OpenCV's Haar cascades are missing from {directory}")
        return self._local.face, self._local.eye

    def locate(self, rgb: np.ndarray) -> FaceLandmarks | None:
        """The landmarks of the frame's largest face, or None when there is no face."""
        face_cascade, eye_cascade = self._cascades()
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        scale = min(1.0, SEARCH_SIDE / max(gray.shape))
        small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        minimum = max(24, int(0.12 * min(small.shape)))
        faces = face_cascade.detectMultiScale(
            small, scaleFactor=1.1, minNeighbors=5, minSize=(minimum, minimum)
        )
        if len(faces) == 0:
            return None
        x, y, width, height = (v / scale for v in max(faces, key=lambda box: box[2] * box[3]))
        box_origin = np.array([x, y], np.float32)
        box_size = np.array([width, height], np.float32)
        eyes = self._find_eyes(gray, eye_cascade, box_origin, float(width))
        if eyes is None:
            eyes = box_origin + BOX_EYES * box_size
        return FaceLandmarks(_points_from_eyes(eyes))

    @staticmethod
    def _find_eyes(
        gray: np.ndarray, cascade: cv2.CascadeClassifier, origin: np.ndarray, side: float
    ) -> np.ndarray | None:
        """Both eye centres inside the face box's upper half, or None unless both are seen."""
        top, bottom = int(origin[1] + 0.15 * side), int(origin[1] + 0.6 * side)
        left, right = int(origin[0]), int(origin[0] + side)
        region = gray[max(0, top) : max(0, bottom), max(0, left) : max(0, right)]
        if region.size == 0:
            return None
        factor = EYE_SEARCH_WIDTH / max(1, region.shape[1])
        region = cv2.resize(region, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        found = cascade.detectMultiScale(
            region, scaleFactor=1.1, minNeighbors=5, minSize=(12, 12), maxSize=(60, 60)
        )
        centres = [
            (np.array([ex + ew / 2, ey + eh / 2], np.float32) / factor
             + np.array([max(0, left), max(0, top)], np.float32))
            for ex, ey, ew, eh in found
        ]  # fmt: skip
        middle = origin[0] + side / 2
        left_eyes = [c for c in centres if c[0] < middle]
        right_eyes = [c for c in centres if c[0] >= middle]
        if not left_eyes or not right_eyes:
            return None
        # The candidates nearest where the box says the eyes are: eyebrows and nostrils
        # sometimes pass the cascade too.
        expected = origin + BOX_EYES * side
        chosen = np.array(
            [
                min(left_eyes, key=lambda c: float(np.linalg.norm(c - expected[0]))),
                min(right_eyes, key=lambda c: float(np.linalg.norm(c - expected[1]))),
            ],
            np.float32,
        )
        distance = eye_distance(chosen)
        tilt = abs(float(chosen[1, 1] - chosen[0, 1]))
        if not 0.25 * side <= distance <= 0.65 * side or tilt > 0.25 * side:
            return None
        return chosen


class LandmarkSmoother:
    """Steadies detected landmarks along one stream; holds them through missed frames.

    An exponential moving average over frames, restarted when the face jumps (a cut):
    the points only choose the crop the model sees, and the crop is pasted back exactly
    where it came from, so a lag of a frame misplaces nothing while jitter would make
    the restored face shimmer. Deterministic for the same sequence of frames.

    Args:
        weight: How much of each new detection enters the average, 0-1.
        jump: A move of more than this many eye distances restarts the average.
        hold_frames: For how many frames without a face the last points are reused.
    """

    def __init__(self, weight: float = 0.4, jump: float = 0.35, hold_frames: int = 12) -> None:
        self._weight = weight
        self._jump = jump
        self._hold_frames = hold_frames
        self._points: np.ndarray | None = None
        self._missed = 0

    def update(self, found: FaceLandmarks | None) -> FaceLandmarks | None:
        """The points to use for the next frame, given what was found in it."""
        if found is None:
            self._missed += 1
            if self._points is None or self._missed > self._hold_frames:
                self._points = None
                return None
            return FaceLandmarks(self._points)
        self._missed = 0
        new = found.points
        if self._points is None or self._moved_far(new):
            self._points = new.copy()
        else:
            self._points = self._points + self._weight * (new - self._points)
        return FaceLandmarks(self._points.astype(np.float32))

    def _moved_far(self, new: np.ndarray) -> bool:
        assert self._points is not None
        shift = float(np.linalg.norm(new.mean(axis=0) - self._points.mean(axis=0)))
        return shift > self._jump * max(1.0, eye_distance(self._points))
