"""The onnx backend on its own: the face changes, nothing else does, every time alike."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from avatar_devtools.samples import sample_face
from avatar_enhancer.engine import EnhanceSettings
from avatar_enhancer.faces import FaceLocator
from avatar_enhancer.restoration_model import RestorationModel
from avatar_enhancer.restorer import OnnxRestorer, alignment, face_mask
from tests.enhancer.restoration_models import codeformer_layout, gfpgan_layout

SETTINGS = EnhanceSettings()


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(sample_face(), np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def landmarks(frame):
    return FaceLocator().locate(frame)


@pytest.fixture(scope="module")
def restorer(tmp_path_factory) -> OnnxRestorer:
    path = gfpgan_layout(tmp_path_factory.mktemp("models") / "tiny_gfpgan.onnx", size=128)
    return OnnxRestorer(RestorationModel(path, threads=1))


def face_region(landmarks, size: int, shape) -> np.ndarray:
    """Where the pasted face may reach: the mask's support, mapped into the frame."""
    to_frame = cv2.invertAffineTransform(alignment(landmarks, size))
    support = (face_mask(size) > 0).astype(np.uint8)
    return cv2.warpAffine(support, to_frame, (shape[1], shape[0]), flags=cv2.INTER_NEAREST) > 0


def _difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b.astype(np.int16)).mean(axis=2)


def test_the_face_changes_and_the_background_does_not(restorer, frame, landmarks):
    restored = restorer.enhance(frame, SETTINGS, landmarks)
    assert restored.shape == frame.shape and restored.dtype == np.uint8
    inside = face_region(landmarks, 128, frame.shape)
    difference = _difference(restored, frame)
    assert difference[inside].mean() > 10  # the tiny model repaints the face visibly
    assert difference[~inside].mean() < 3
    # Outside the feathered mask the pixels are the input's, bit for bit.
    assert np.array_equal(restored[~inside], frame[~inside])
    # The face region is the face, not the frame: a fraction of the 512 x 512 portrait.
    assert 0.05 < inside.mean() < 0.35


def test_the_region_is_the_face_between_eyes_and_chin(restorer, frame, landmarks):
    changed = _difference(restorer.enhance(frame, SETTINGS, landmarks), frame) > 0
    rows, columns = np.nonzero(changed)
    eyes, mouth = landmarks.points[:2], landmarks.points[3:]
    assert rows.min() < eyes[:, 1].min() and rows.max() > mouth[:, 1].max()
    assert columns.min() < eyes[0, 0] and columns.max() > eyes[1, 0]
    assert not changed[:40].any() and not changed[-40:].any()  # top of the hair, the suit


def test_the_same_frame_gives_the_same_output(restorer, frame, landmarks):
    first = restorer.enhance(frame, SETTINGS, landmarks)
    assert np.array_equal(first, restorer.enhance(frame.copy(), SETTINGS, landmarks))


def test_no_landmarks_leaves_the_frame_as_it_is(restorer, frame):
    assert np.array_equal(restorer.enhance(frame, SETTINGS, None), frame)


def test_upscale_doubles_the_frame_and_restores_the_face_there(restorer, frame, landmarks):
    upscaled = restorer.enhance(frame, EnhanceSettings(upscale=2), landmarks)
    assert upscaled.shape == (1024, 1024, 3)
    plain = cv2.resize(frame, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    inside = face_region(landmarks.scaled(2.0), 128, upscaled.shape)
    difference = _difference(upscaled, plain)
    assert difference[inside].mean() > 10 and difference[~inside].mean() < 3


def test_a_face_restored_once_pastes_into_other_frames(restorer, frame, landmarks):
    face = restorer.restore_face(frame, landmarks, 0.7)
    other = frame.copy()
    other[:, :, 2] = 0  # same geometry, other pixels
    pasted = restorer.paste(other, face)
    inside = face_region(landmarks, 128, frame.shape)
    assert np.array_equal(pasted[~inside], other[~inside])
    assert np.array_equal(pasted, restorer.paste(other, face))


def test_codeformer_fidelity_is_the_models_weight(tmp_path, frame, landmarks):
    path = codeformer_layout(tmp_path / "tiny_codeformer.onnx", size=128)
    restorer = OnnxRestorer(RestorationModel(path, threads=1))
    assert restorer.model.layout.weight_type is np.float64
    inside = face_region(landmarks, 128, frame.shape)
    faithful = restorer.enhance(frame, EnhanceSettings(fidelity=1.0), landmarks)
    thesis = restorer.enhance(frame, EnhanceSettings(fidelity=0.7), landmarks)
    strong = restorer.enhance(frame, EnhanceSettings(fidelity=0.0), landmarks)
    # w = 1 returns the input crop: only resampling differences remain.
    assert _difference(faithful, frame)[inside].mean() < 4
    assert (
        _difference(faithful, frame)[inside].mean()
        < _difference(thesis, frame)[inside].mean()
        < _difference(strong, frame)[inside].mean()
    )
