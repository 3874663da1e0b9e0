"""Tests of the mouth interior: what an opened mouth shows, and how it sits in the photo."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from avatar_animator.motion import FramePose
from avatar_animator.photo_look import PhotoLook, edge_blur_sigma
from avatar_animator.visemes import MouthShape

DATA = Path(__file__).resolve().parent / "data"
OPEN = MouthShape(opening=0.32, rest=0.0)


@pytest.fixture(scope="module")
def drawn_face(preparer):
    """A real closed-mouth photo: its teeth must be drawn."""
    face, _ = preparer.prepare((DATA / "hopper_closed.jpg").read_bytes())
    assert not face.warper.mouth.photo_teeth
    return face


def _lightness(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2LAB)[..., 0].astype(float) / 2.55


def _lab(rgb: np.ndarray) -> np.ndarray:
    """CIE Lab (L* 0-255 as OpenCV stores it, a* and b* centred on 0)."""
    lab = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2LAB).astype(float)
    lab[..., 1:] -= 128.0
    return lab


def _inside(shape, polygon) -> np.ndarray:
    mask = np.zeros(shape[:2], dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 1)
    return mask.astype(bool)


def _opening(face, pose):
    """The frame, and a mask of the opening shrunk by 2 px (the interior proper)."""
    frame = face.warper.render(pose)
    vertices = face.warper.rig.deform(pose)
    inner = vertices[[60, 70, 61, 71, 62, 72, 63, 73, 64, 74, 65, 75, 66, 76, 67, 77]]
    mask = cv2.erode(_inside(frame.shape, inner).astype(np.uint8), np.ones((5, 5), np.uint8))
    return frame, vertices, mask.astype(bool)


@pytest.mark.parametrize("photo", ["hopper_closed.jpg", "painted_portrait.jpg", "bearded.jpg"])
def test_drawn_teeth_are_never_brighter_than_the_face(preparer, photo):
    face, _ = preparer.prepare((DATA / photo).read_bytes())
    hull = cv2.convexHull(face.landmarks[:27].astype(np.float32))[:, 0]
    face_top = np.percentile(_lightness(face.image)[_inside(face.image.shape, hull)], 99)
    frame, _, inside = _opening(face, FramePose(mouth=OPEN))
    mouth = _lightness(frame)[inside]
    assert np.percentile(mouth, 99) <= face_top
    assert np.percentile(mouth, 99) > np.percentile(mouth, 5) + 30  # teeth and a dark cavity


@pytest.mark.parametrize("photo", ["hopper_closed.jpg", "painted_portrait.jpg", "bearded.jpg"])
def test_drawn_teeth_are_a_warm_off_white_in_the_photos_light(preparer, photo):
    """Teeth take the photo's colour cast: beside warm skin a neutral grey reads blue."""
    face, _ = preparer.prepare((DATA / photo).read_bytes())
    hull = cv2.convexHull(face.landmarks[:27].astype(np.float32))[:, 0]
    skin = _lab(face.image)[_inside(face.image.shape, hull)]
    frame, _, inside = _opening(face, FramePose(mouth=OPEN))
    mouth = _lab(frame)[inside]
    teeth = mouth[mouth[:, 0] >= np.percentile(mouth[:, 0], 95)]  # the lightest: teeth
    yellow, red = np.median(teeth[:, 2]), np.median(teeth[:, 1])
    skin_yellow = np.median(skin[:, 2])
    assert 0.6 * skin_yellow <= yellow < skin_yellow  # warm, yet whiter than the skin
    assert 0.0 <= red < np.median(skin[:, 1])


def test_the_tongue_tip_shows_between_the_teeth_on_th(drawn_face, sample_face):
    """At a th's small opening the drawn teeth fill the gap; the tongue tip must show in
    front of them (and in front of a smiling photo's own teeth)."""
    for face in (drawn_face, sample_face):
        rig = face.warper.rig
        shape = MouthShape(opening=0.09, rest=0.0, tongue=1.0)
        teeth_only, vertices, inside = _opening(face, FramePose(mouth=shape))
        tip, _, _ = _opening(face, FramePose(mouth=replace(shape, tongue_tip=1.0)))
        # The lower half of the opening, in the middle of the mouth.
        centre_x = int(round(vertices[62, 0]))
        middle_row = (vertices[62, 1] + vertices[66, 1]) / 2
        lower = np.zeros_like(inside)
        lower[int(np.ceil(middle_row)) : int(round(vertices[66, 1])) + 1] = True
        lower[:, : centre_x - int(0.1 * rig.mouth_width)] = False
        lower[:, centre_x + int(0.1 * rig.mouth_width) + 1 :] = False
        lower &= _inside(
            tip.shape, vertices[[60, 70, 61, 71, 62, 72, 63, 73, 64, 74, 65, 75, 66, 76, 67, 77]]
        )
        assert lower.sum() >= 6
        redness = lambda frame: _lab(frame)[..., 1]  # noqa: E731
        assert redness(tip)[lower].mean() > redness(teeth_only)[lower].mean() + 8


def test_the_cavity_is_dark_but_not_black(drawn_face):
    frame, vertices, inside = _opening(drawn_face, FramePose(mouth=OPEN))
    lips = _inside(frame.shape, vertices[48:60]) & ~inside
    lightness = _lightness(frame)
    assert np.percentile(lightness[inside], 2) > 2.0
    assert np.percentile(lightness[inside], 30) < 0.6 * np.median(lightness[lips])


def test_no_dark_outline_between_the_upper_lip_and_the_teeth(drawn_face):
    frame, vertices, _ = _opening(drawn_face, FramePose(mouth=OPEN))
    lightness = _lightness(frame)
    column = int(round(vertices[62, 0]))
    lip_top, lip_edge = int(vertices[51, 1]), int(round(vertices[62, 1]))
    width = drawn_face.warper.rig.mouth_width
    profile = lightness[lip_top : lip_edge + int(0.06 * width), column - 1 : column + 2].mean(
        axis=1
    )
    lip = np.median(lightness[lip_top + 2 : lip_edge - 2, column])
    teeth = profile[-3:].mean()
    seam = profile[(lip_edge - lip_top) - 2 : (lip_edge - lip_top) + 3].min()
    assert teeth > lip  # the teeth are lighter than the lip...
    assert seam > 0.8 * lip  # ...and no ink line runs between them


def test_the_tongue_rises_to_the_teeth_on_t_d_n_l(drawn_face):
    shape = MouthShape(opening=0.2, rest=0.0)
    low, _, inside = _opening(drawn_face, FramePose(mouth=shape))
    high, vertices, _ = _opening(
        drawn_face, FramePose(mouth=MouthShape(opening=0.2, rest=0.0, tongue=1.0))
    )
    # Between the teeth and the lower lip, in the middle of the mouth.
    middle = np.zeros_like(inside)
    centre_x = int(round(vertices[62, 0]))
    top = int(round(vertices[62, 1] + 0.09 * drawn_face.warper.rig.mouth_width))
    bottom = int(round(vertices[66, 1])) - 1
    middle[top:bottom, centre_x - 4 : centre_x + 5] = True
    middle &= inside
    assert middle.sum() > 10
    redness = lambda frame: frame[..., 0].astype(float) - frame[..., 1]  # noqa: E731
    assert redness(high)[middle].mean() > redness(low)[middle].mean() + 8
    assert _lightness(high)[middle].mean() > _lightness(low)[middle].mean() + 4


def test_lower_lip_travels_with_the_jaw_and_keeps_its_thickness(drawn_face):
    rig = drawn_face.warper.rig
    vertices = rig.deform(FramePose(mouth=MouthShape(opening=0.4, rest=0.0)))
    moved = (vertices - rig.source) @ rig.axis_y
    assert moved[66] > 0.25 * rig.mouth_width  # the lower lip went down
    for outer, inner in ((57, 66), (51, 62), (56, 65), (58, 67)):
        assert moved[outer] == pytest.approx(moved[inner], abs=0.05 * abs(moved[inner]) + 0.3)
    assert moved[8] >= moved[57]  # the chin goes down with it
    assert moved[62] < 0  # the upper lip lifts a little


@pytest.mark.parametrize("sigma", [2.0, 6.0])
def test_grain_is_measured_on_the_skin_and_given_to_drawn_pixels(sigma):
    random = np.random.default_rng(3)
    photo = np.clip(150 + random.normal(0, sigma, (200, 200, 3)), 0, 255).astype(np.uint8)
    skin = np.zeros((200, 200), dtype=bool)
    skin[120:190, 20:180] = True
    look = PhotoLook(photo, (40, 40, 160, 110), skin)
    assert look.grain_sigma == pytest.approx(sigma * 0.6, rel=0.25)  # gray of 3 channels
    flat = np.full((40, 40, 3), 60.0, dtype=np.float32)
    finished = look.finish(flat, 100, 100)
    assert finished.std() == pytest.approx(look.grain_sigma, rel=0.3)
    assert np.array_equal(finished, look.finish(flat, 100, 100))  # fixed, not crawling


def test_a_noisier_photo_gives_more_grain_and_a_blurred_one_more_blur(drawn_face):
    image = drawn_face.image
    noisy = np.clip(image + np.random.default_rng(3).normal(0, 6.0, image.shape), 0, 255)
    box = (150, 280, 360, 420)
    skin = np.zeros(image.shape[:2], dtype=bool)
    skin[330:400, 170:200] = True
    clean_look = PhotoLook(image, box, skin)
    noisy_look = PhotoLook(noisy.astype(np.uint8), box, skin)
    assert noisy_look.grain_sigma > clean_look.grain_sigma + 1.5
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    blurred = cv2.GaussianBlur(gray, (0, 0), 2.0)
    assert edge_blur_sigma(blurred, box) > edge_blur_sigma(gray, box) + 0.8
