"""Finding the face: five landmarks from OpenCV's bundled cascades, steadied per stream."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from avatar_devtools.samples import sample_face
from avatar_enhancer.faces import FaceLandmarks, FaceLocator, LandmarkSmoother


def _sample_rgb() -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(sample_face(), np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


# Eye centres and mouth of the 512 px sample portrait, read off the picture.
SAMPLE_EYES = np.array([[215, 175], [293, 178]], np.float32)
SAMPLE_MOUTH_CENTRE = np.array([252, 252], np.float32)


def test_the_sample_face_is_found_with_its_eyes_and_mouth_in_place():
    found = FaceLocator().locate(_sample_rgb())
    assert found is not None
    assert np.abs(found.points[:2] - SAMPLE_EYES).max() < 8
    mouth = found.points[3:].mean(axis=0)
    assert np.linalg.norm(mouth - SAMPLE_MOUTH_CENTRE) < 15
    assert found.points[0, 0] < found.points[2, 0] < found.points[1, 0]  # nose between the eyes


def test_locating_is_a_pure_function_of_the_frame():
    locator = FaceLocator()
    frame = _sample_rgb()
    assert np.array_equal(locator.locate(frame).points, locator.locate(frame.copy()).points)


def test_a_frame_without_a_face_gives_none():
    rng = np.random.default_rng(1)
    background = cv2.GaussianBlur(rng.integers(0, 255, (256, 256, 3), np.uint8), (0, 0), 8)
    assert FaceLocator().locate(background) is None


def test_the_face_is_found_wherever_it_is_in_a_larger_frame():
    frame = np.full((720, 960, 3), 90, np.uint8)
    frame[150:662, 400:912] = _sample_rgb()
    found = FaceLocator().locate(frame)
    assert found is not None
    assert np.abs(found.points[:2] - (SAMPLE_EYES + (400, 150))).max() < 10


def test_landmarks_from_ten_numbers_and_what_is_refused():
    values = [10, 20, 50, 20, 30, 40, 15, 60, 45, 60]
    assert FaceLandmarks.from_values(values).points.shape == (5, 2)
    with pytest.raises(ValueError, match="10 finite numbers, got 4"):
        FaceLandmarks.from_values([1, 2, 3, 4])
    with pytest.raises(ValueError, match="10 finite numbers"):
        FaceLandmarks.from_values([float("nan")] * 10)
    with pytest.raises(ValueError, match="less than 2 pixels apart"):
        FaceLandmarks.from_values([10, 10] * 5)


def _face_at(x: float, y: float) -> FaceLandmarks:
    base = np.array([[0, 0], [60, 0], [30, 30], [8, 60], [52, 60]], np.float32)
    return FaceLandmarks(base + np.float32([x, y]))


def test_the_smoother_damps_jitter_holds_through_misses_and_restarts_on_a_cut():
    smoother = LandmarkSmoother(weight=0.4, jump=0.35, hold_frames=2)
    first = smoother.update(_face_at(100, 100))
    assert np.allclose(first.points, _face_at(100, 100).points)
    jittered = smoother.update(_face_at(105, 100))
    assert np.allclose(jittered.points[:, 0] - _face_at(100, 100).points[:, 0], 2.0)
    assert np.allclose(smoother.update(None).points, jittered.points)  # held
    assert smoother.update(None) is not None
    assert smoother.update(None) is None  # held for two frames only
    restarted = smoother.update(_face_at(100, 100))
    cut = smoother.update(_face_at(300, 100))
    assert np.allclose(restarted.points, _face_at(100, 100).points)
    assert np.allclose(cut.points, _face_at(300, 100).points)  # a jump is not averaged
