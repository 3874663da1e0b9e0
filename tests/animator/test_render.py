"""Tests of the face warper: what each part of a pose changes in the frame."""

from __future__ import annotations

import numpy as np
import pytest

from avatar.services.animator.motion import FramePose
from avatar.services.animator.visemes import MouthShape


def _changed_rows_and_columns(
    frame: np.ndarray, still: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    changed = np.abs(frame.astype(int) - still.astype(int)).max(axis=2) > 8
    return np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))


def test_rest_pose_renders_the_photo_exactly(sample_face):
    frame = sample_face.warper.render(FramePose())
    assert frame.dtype == np.uint8 and frame.shape == sample_face.image.shape
    assert np.array_equal(frame, sample_face.image)
    frame[:] = 0  # frames are new arrays: the still is untouched
    assert sample_face.image.max() > 0


def test_blink_changes_only_the_eyes(sample_face):
    landmarks = sample_face.landmarks
    frame = sample_face.warper.render(FramePose(blink=1.0))
    rows, columns = _changed_rows_and_columns(frame, sample_face.image)
    assert len(rows) > 5
    assert rows.min() >= landmarks[17:27, 1].min() - 2  # not above the brows
    assert rows.max() <= landmarks[29, 1]  # not below the middle of the nose
    assert columns.min() >= landmarks[36, 0] - 15 and columns.max() <= landmarks[45, 0] + 15


def test_open_mouth_changes_only_the_lower_face(sample_face):
    landmarks = sample_face.landmarks
    frame = sample_face.warper.render(FramePose(mouth=MouthShape(opening=0.4, rest=0.0)))
    rows, _ = _changed_rows_and_columns(frame, sample_face.image)
    assert rows.min() > landmarks[36:48, 1].max() + 5  # the eyes stay untouched
    assert rows.max() > landmarks[8, 1]  # the chin moved down


@pytest.mark.parametrize(
    ("shape", "low", "high"),
    [
        (MouthShape(opening=0.0, rest=0.0), -1.0, 3.0),
        (MouthShape(opening=0.16, rest=0.0), 8.0, 16.0),
        (MouthShape(opening=0.4, rest=0.0), 22.0, 40.0),
    ],
)
def test_rendered_lip_gap_follows_the_opening(sample_face, lip_meter, shape, low, high):
    frame = sample_face.warper.render(FramePose(mouth=shape))
    assert low <= lip_meter.gap(frame) <= high


def test_head_motion_moves_the_whole_frame(sample_face):
    frame = sample_face.warper.render(FramePose(head_roll_degrees=1.5, head_shift_x=0.02))
    rows, columns = _changed_rows_and_columns(frame, sample_face.image)
    assert rows.min() < 30 and rows.max() > 480
    assert columns.min() < 30 and columns.max() > 480


def test_gaze_moves_pixels_inside_the_eyes_only(sample_face):
    landmarks = sample_face.landmarks
    frame = sample_face.warper.render(FramePose(gaze_x=1.0))
    rows, columns = _changed_rows_and_columns(frame, sample_face.image)
    assert len(columns) > 0
    assert (
        rows.min() >= landmarks[36:48, 1].min() - 6 and rows.max() <= landmarks[36:48, 1].max() + 6
    )


def test_opened_mouth_of_a_closed_mouth_photo_shows_teeth_and_a_dark_cavity(preparer, closed_photo):
    face, _ = preparer.prepare(closed_photo)
    closed_photo = face.image
    frame = face.warper.render(FramePose(mouth=MouthShape(opening=0.4, rest=0.0)))
    landmarks = face.landmarks
    left, right = int(landmarks[48, 0]), int(landmarks[54, 0])
    top, bottom = int(landmarks[51, 1]), int(landmarks[57, 1]) + 25
    mouth = frame[top:bottom, left:right].astype(int)
    before = closed_photo[top:bottom, left:right].astype(int)
    brightness, before_brightness = mouth.sum(axis=2), before.sum(axis=2)
    assert (brightness > 3 * 200).sum() > 50  # teeth appeared
    assert (brightness < 3 * 60).sum() > 200  # and a dark opening
    assert (before_brightness < 3 * 60).sum() < 0.5 * (brightness < 3 * 60).sum()
