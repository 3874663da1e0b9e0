"""Shared fixtures of the animator tests: the sample photos, prepared once, and observers."""

from __future__ import annotations

from importlib import resources

import dlib
import numpy as np
import pytest

from avatar_animator.face import FacePreparer, PreparedFace, default_predictor_path
from tests.animator.observer import FaceObserver


@pytest.fixture(scope="session")
def sample_photo() -> bytes:
    """The bundled sample face photo (JPEG bytes)."""
    return (resources.files("avatar_devtools") / "assets" / "sample_face.jpg").read_bytes()


@pytest.fixture(scope="session")
def closed_photo() -> bytes:
    """The sample face with its lips closed (no teeth showing), JPEG bytes."""
    return (resources.files("avatar_devtools") / "assets" / "sample_face_closed.jpg").read_bytes()


@pytest.fixture(scope="session")
def preparer() -> FacePreparer:
    """One preparer for the session, so the dlib models load once."""
    return FacePreparer()


@pytest.fixture(scope="session")
def sample_face(preparer: FacePreparer, sample_photo: bytes) -> PreparedFace:
    """The sample photo, prepared."""
    face, _ = preparer.prepare(sample_photo)
    return face


class LipMeter:
    """Measures the inner-lip gap of rendered frames by fitting dlib's landmarks anew.

    This judges the frames as an outside observer would, independent of the rig
    that rendered them.
    """

    def __init__(self, still: np.ndarray) -> None:
        self._predictor = dlib.shape_predictor(str(default_predictor_path()))
        self._face = dlib.get_frontal_face_detector()(still, 0)[0]

    def gap(self, frame: np.ndarray) -> float:
        """Mean vertical distance (pixels) between facing inner-lip landmarks."""
        shape = self._predictor(frame, self._face)
        points = np.array([(part.x, part.y) for part in shape.parts()], dtype=float)
        return float(
            np.mean([points[low, 1] - points[up, 1] for up, low in ((61, 67), (62, 66), (63, 65))])
        )


@pytest.fixture(scope="session")
def lip_meter(sample_face: PreparedFace) -> LipMeter:
    """A lip meter for frames of the sample face."""
    return LipMeter(sample_face.image)


@pytest.fixture(scope="session")
def observer() -> FaceObserver:
    """Finds the face and its landmarks afresh in each frame (an independent judge)."""
    return FaceObserver()


@pytest.fixture(scope="session")
def fine_observer() -> FaceObserver:
    """The same judge fitting landmarks on six enlarged copies of each frame (1.8x, 2x and
    2.2x, each also shifted by one of its pixels), each landmark the median of the six:
    lips read to a fraction of a pixel, and a fit that slips on one pixel grid is outvoted."""
    return FaceObserver(scales=(1.8, 2.0, 2.2), shifts=(0.0, 1.0))
