"""Tests of the face warper: what each part of a pose changes in the frame."""

from __future__ import annotations

import numpy as np
import pytest

from avatar_animator.face import FacePreparer
from avatar_animator.motion import FramePose
from avatar_animator.visemes import MouthShape


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
    assert (
        rows.min() >= landmarks[36:48, 1].min() - 6 and rows.max() <= landmarks[36:48, 1].max() + 6
    )
    # Both eyes look aside (dlib: 36-41 the image's left eye, 42-47 its right), between
    # their corners; the skin between and beside the eyes stays as in the photo.
    margin = 6
    in_left_eye = (columns >= landmarks[36, 0] - margin) & (columns <= landmarks[39, 0] + margin)
    in_right_eye = (columns >= landmarks[42, 0] - margin) & (columns <= landmarks[45, 0] + margin)
    assert in_left_eye.sum() >= 5 and in_right_eye.sum() >= 5
    assert np.all(in_left_eye | in_right_eye), columns[~(in_left_eye | in_right_eye)]


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


def _lip_thickness(points: np.ndarray) -> tuple[float, float]:
    """Upper and lower lip thickness at the middle of the mouth (pixels)."""
    return points[62, 1] - points[51, 1], points[57, 1] - points[66, 1]


@pytest.mark.parametrize("photo", ["sample_photo", "closed_photo"])
@pytest.mark.parametrize(
    "shape",
    [MouthShape(0.4, 0.0, 0.02), MouthShape(0.26, 0.0, 0.07), MouthShape(0.12, 0.0, -0.26)],
    ids=["aa", "E", "ou"],
)
def test_lips_move_as_wholes_and_keep_their_thickness(request, preparer, observer, photo, shape):
    face, _ = preparer.prepare(request.getfixturevalue(photo))
    still = observer.observe(face.image)
    moved = observer.observe(face.warper.render(FramePose(mouth=shape)))
    if shape.opening >= 0.2:
        assert moved.lip_gap > still.lip_gap + 8.0  # the mouth opened...
    for before, after in zip(
        _lip_thickness(still.points), _lip_thickness(moved.points), strict=True
    ):
        assert abs(after - before) <= 2.5  # ...but neither lip was stretched or squashed


def test_no_seams_where_the_moving_region_meets_the_photo(sample_face):
    pose = FramePose(mouth=MouthShape(0.4, 0.0, 0.02), blink=0.7, gaze_x=1.0, brow_raise=1.0)
    frame = sample_face.warper.render(pose).astype(int)
    photo = sample_face.image.astype(int)
    x0, y0, x1, y1 = sample_face.warper.rig.roi
    outside = np.ones(photo.shape[:2], dtype=bool)
    outside[y0 : y1 + 1, x0 : x1 + 1] = False
    assert np.array_equal(frame[outside], photo[outside])  # untouched beyond the region
    outline = np.zeros_like(outside)  # the region's own border: its vertices never move
    outline[y0 : y1 + 1, x0 : x1 + 1] = True
    outline[y0 + 1 : y1, x0 + 1 : x1] = False
    assert np.abs(frame[outline] - photo[outline]).max() <= 2  # so it joins without a step


def test_head_motion_leaves_no_empty_border(sample_face):
    frame = sample_face.warper.render(
        FramePose(head_roll_degrees=2.5, head_shift_x=0.05, head_shift_y=0.04)
    )
    edges = np.concatenate([frame[0], frame[-1], frame[:, 0], frame[:, -1]]).astype(int)
    still = np.concatenate(
        [
            sample_face.image[0],
            sample_face.image[-1],
            sample_face.image[:, 0],
            sample_face.image[:, -1],
        ]
    ).astype(int)
    # The edges show the photo's edge colours (reflected), not black fill.
    assert abs(edges.mean() - still.mean()) < 15 and (edges.sum(axis=1) < 30).mean() < 0.05


@pytest.mark.parametrize(("width", "height"), [(1024, 1024), (768, 512), (256, 256)])
def test_frames_of_any_size_show_the_face_and_move(observer, sample_photo, width, height):
    face, _ = FacePreparer(output_width=width, output_height=height).prepare(sample_photo)
    frame = face.warper.render(FramePose(mouth=MouthShape(0.3, 0.0), blink=1.0))
    assert frame.shape == (height, width, 3)
    eyes = float(np.linalg.norm(face.landmarks[45] - face.landmarks[36]))
    assert eyes > 0.15 * min(width, height)  # framed around the face at every size
    if min(width, height) >= 512:  # the observer's detector needs a face of ~80 px
        seen = observer.observe(frame)
        assert abs(seen.eye_distance - eyes) < 0.05 * eyes
        assert seen.lip_gap > 0.15 * seen.mouth_width  # the mouth opens
        assert seen.eye_aspect_ratio < 0.15  # and the eyes shut
