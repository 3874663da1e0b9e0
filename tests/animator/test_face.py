"""Tests of face preparation: detection, errors, cropping and the prepared-face cache."""

from __future__ import annotations

import hashlib
import struct
import zlib

import cv2
import numpy as np
import pytest

from avatar_animator.errors import FaceTooSmallError, NoFaceError
from avatar_animator.face import (
    FacePreparer,
    LandmarkDetector,
    crop_box,
    default_predictor_path,
)
from avatar_core.images import InvalidImageError, decode_image, encode_jpeg


class CountingDetector(LandmarkDetector):
    """A real detector that counts how often it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def detect(self, rgb):
        self.calls += 1
        return super().detect(rgb)


@pytest.fixture(scope="module")
def detector() -> CountingDetector:
    return CountingDetector()


@pytest.fixture(scope="module")
def sample_rgb(sample_photo) -> np.ndarray:
    return decode_image(sample_photo)


def test_predictor_is_found_inside_the_models_package():
    path = default_predictor_path()
    assert path.name == "shape_predictor_68_face_landmarks.dat" and path.stat().st_size > 1e6


def test_sample_face_is_prepared(sample_face, sample_photo):
    assert sample_face.content_hash == hashlib.sha256(sample_photo).hexdigest()
    assert (sample_face.width, sample_face.height) == (512, 512)
    assert sample_face.faces_found == 1 and sample_face.warnings == ()
    landmarks = sample_face.landmarks
    assert landmarks.shape == (68, 2)
    assert np.all((landmarks > 0) & (landmarks < 512))
    eyes_y, mouth_y, chin_y = (
        landmarks[36:48, 1].mean(),
        landmarks[48:68, 1].mean(),
        landmarks[8, 1],
    )
    assert eyes_y < mouth_y < chin_y
    assert not sample_face.image.flags.writeable


def test_second_request_is_served_from_the_cache(detector, sample_photo):
    preparer = FacePreparer(detector=detector)
    calls = detector.calls
    first, first_hit = preparer.prepare(sample_photo)
    second, second_hit = preparer.prepare(sample_photo)
    assert (first_hit, second_hit) == (False, True)
    assert second is first
    assert detector.calls == calls + 1
    assert preparer.cached(first.content_hash) is first
    assert preparer.cached("0" * 64) is None


def test_cache_evicts_the_least_recently_used(detector, sample_rgb):
    preparer = FacePreparer(detector=detector, cache_size=2)
    photos = [encode_jpeg(sample_rgb, quality) for quality in (80, 85, 90)]
    hashes = [preparer.prepare(photo)[0].content_hash for photo in photos[:2]]
    preparer.cached(hashes[0])  # touch the first: the second is now the oldest
    preparer.prepare(photos[2])
    assert preparer.cached(hashes[0]) is not None
    assert preparer.cached(hashes[1]) is None
    assert preparer.cache_length == 2


def test_photo_without_a_face_is_refused(preparer):
    ys, xs = np.mgrid[0:300, 0:400]
    landscape = np.stack([xs % 256, ys % 256, (xs + ys) % 256], axis=2).astype(np.uint8)
    with pytest.raises(NoFaceError, match="no face found"):
        preparer.prepare(encode_jpeg(landscape))


def test_tiny_face_is_refused(preparer, sample_rgb):
    canvas = np.full((400, 400, 3), 200, dtype=np.uint8)
    canvas[:140, :140] = cv2.resize(sample_rgb, (140, 140), interpolation=cv2.INTER_AREA)
    with pytest.raises(FaceTooSmallError, match=r"at least 64 px"):
        preparer.prepare(encode_jpeg(canvas))


def test_largest_of_several_faces_is_used(preparer, sample_rgb):
    canvas = np.full((600, 900, 3), 230, dtype=np.uint8)
    canvas[44:556, 380:892] = sample_rgb
    canvas[150:450, 20:320] = cv2.resize(sample_rgb, (300, 300), interpolation=cv2.INTER_AREA)
    face, _ = preparer.prepare(encode_jpeg(canvas, 95))
    assert face.faces_found == 2
    assert face.warnings == ("2 faces found; the largest is used",)
    jaw_width = face.landmarks[16, 0] - face.landmarks[0, 0]
    # The big face fills about a third of the frame; the small one would be cropped wider.
    assert 120 < jaw_width < 220


def test_image_bomb_is_refused_before_decoding(preparer):
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")
    with pytest.raises(InvalidImageError, match="megapixels"):
        preparer.prepare(bomb)


def test_non_image_is_refused(preparer):
    with pytest.raises(InvalidImageError, match="not an image"):
        preparer.prepare(b"GIF? no, just text")


def test_output_size_is_configurable(detector, sample_photo):
    face, _ = FacePreparer(detector=detector, output_width=320, output_height=256).prepare(
        sample_photo
    )
    assert face.image.shape == (256, 320, 3)
    assert np.all(face.landmarks[:, 0] < 320) and np.all(face.landmarks[:, 1] < 256)


def test_crop_stays_inside_the_photo_and_keeps_the_aspect():
    landmarks = np.array([[900.0, 100.0], [980.0, 190.0]])  # a face near the top-right corner
    left, top, width, height = crop_box((1000, 800), landmarks, (512, 512), 3.0)
    assert left >= 0 and top >= 0 and left + width <= 1000 and top + height <= 800
    assert width == height == 270
    left, top, width, height = crop_box((400, 300), landmarks / 4, (640, 480), 3.0)
    assert width / height == pytest.approx(640 / 480, abs=0.01)
    assert width <= 400 and height <= 300


def test_crop_of_a_framed_portrait_takes_the_whole_photo(sample_face, sample_rgb):
    # The sample is already framed for the output: no resampling, identical pixels.
    assert np.array_equal(sample_face.image, sample_rgb)


def test_closed_mouth_sample_is_the_sample_with_its_lips_closed(
    preparer, closed_photo, sample_face, lip_meter
):
    closed, _ = preparer.prepare(closed_photo)
    assert closed.faces_found == 1 and closed.image.shape == sample_face.image.shape
    assert lip_meter.gap(sample_face.image) > 8.0  # the sample smiles with its teeth
    assert lip_meter.gap(closed.image) < 2.0  # this one does not
    eyes = slice(int(sample_face.landmarks[17:27, 1].min()), int(sample_face.landmarks[29, 1]))
    difference = np.abs(closed.image[eyes].astype(int) - sample_face.image[eyes].astype(int))
    assert difference.mean() < 2.0  # the same face: only the mouth differs
