"""Tests of idle motion: blinks, gaze, head, emphasis inputs and seamless loops."""

from __future__ import annotations

import numpy as np
import pytest

from avatar_animator.errors import AnimationInputError
from avatar_animator.motion import (
    IdleMotion,
    MotionSettings,
    smooth_noise,
    unit_hash,
)

FPS = 25.0


def _blinks(poses) -> list[list[float]]:
    """Groups consecutive frames with closing lids into blinks."""
    blinks, current = [], []
    for pose in poses:
        if pose.blink > 0.0:
            current.append(pose.blink)
        elif current:
            blinks.append(current)
            current = []
    return blinks


def test_hash_is_uniform_and_fixed_by_its_inputs():
    values = [unit_hash(7, 1, index) for index in range(20000)]
    assert values[:5] == [unit_hash(7, 1, index) for index in range(5)]
    assert min(values) >= 0.0 and max(values) < 1.0
    assert abs(np.mean(values) - 0.5) < 0.01
    assert unit_hash(7, 1, 3) != unit_hash(8, 1, 3) != unit_hash(7, 2, 3)


def test_smooth_noise_is_continuous_and_bounded():
    positions = np.arange(0.0, 50.0, 0.01)
    values = np.array([smooth_noise(3, 5, position) for position in positions])
    assert np.all(np.abs(values) <= 1.0)
    assert np.max(np.abs(np.diff(values))) < 0.05
    assert values.std() > 0.2


@pytest.mark.parametrize("rate", [10.0, 15.0, 30.0])
def test_blinks_come_at_the_asked_rate_and_close_fully(rate):
    idle = IdleMotion(MotionSettings(seed=4, blinks_per_minute=rate), FPS)
    minutes = 10
    blinks = _blinks(idle.pose(index) for index in range(int(minutes * 60 * FPS)))
    assert abs(len(blinks) / minutes - rate) <= 0.1 * rate + 1
    for blink in blinks:
        assert max(blink) == 1.0  # every blink shows shut lids in at least one frame
        assert len(blink) <= 6  # 100-200 ms at 25 fps, plus partial frames at the edges


def test_blinks_are_randomly_spaced():
    idle = IdleMotion(MotionSettings(seed=1), FPS)
    closed = [index for index in range(int(300 * FPS)) if idle.pose(index).blink == 1.0]
    starts = [
        index
        for position, index in enumerate(closed)
        if position == 0 or closed[position - 1] != index - 1
    ]
    gaps = np.diff(starts) / FPS
    assert gaps.std() > 0.5
    assert gaps.min() > 0.3


def test_zero_blink_rate_never_blinks():
    idle = IdleMotion(MotionSettings(blinks_per_minute=0.0), FPS)
    assert all(idle.pose(index).blink == 0.0 for index in range(2000))


def test_head_motion_is_small_smooth_and_scaled():
    idle = IdleMotion(MotionSettings(seed=2), FPS)
    poses = [idle.pose(index) for index in range(int(60 * FPS))]
    roll = np.array([pose.head_roll_degrees for pose in poses])
    nod = np.array([pose.head_shift_y for pose in poses])
    assert 0.2 < np.abs(roll).max() < 2.5
    assert np.abs(np.diff(roll)).max() < 0.3
    assert np.abs(nod).max() < 0.03
    doubled = IdleMotion(MotionSettings(seed=2, head_motion=2.0), FPS).pose(100)
    assert doubled.head_roll_degrees == pytest.approx(2 * poses[100].head_roll_degrees)


def test_still_head_holds_the_head_but_keeps_blinking():
    idle = IdleMotion(MotionSettings(seed=2, still_head=True, head_motion=1.5), FPS)
    poses = [idle.pose(index) for index in range(int(30 * FPS))]
    assert all(pose.head_roll_degrees == 0 and pose.head_shift_x == 0 for pose in poses)
    assert _blinks(poses)


def test_gaze_moves_in_quick_saccades_between_fixations():
    idle = IdleMotion(MotionSettings(seed=9), FPS)
    gaze = np.array([idle.pose(index).gaze_x for index in range(int(60 * FPS))])
    steps = np.abs(np.diff(gaze))
    assert np.abs(gaze).max() <= 1.0
    assert (steps > 0.05).sum() > 10  # saccades happen
    assert (steps < 1e-9).mean() > 0.8  # and the eyes hold still between them


def test_idle_motion_is_a_function_of_seed_and_frame():
    first = [IdleMotion(MotionSettings(seed=5), FPS).pose(index) for index in range(500, 600)]
    again = [IdleMotion(MotionSettings(seed=5), FPS).pose(index) for index in range(500, 600)]
    other = [IdleMotion(MotionSettings(seed=6), FPS).pose(index) for index in range(500, 600)]
    assert first == again
    assert first != other


@pytest.mark.parametrize(
    "settings",
    [
        {"blinks_per_minute": -1.0},
        {"blinks_per_minute": 100.0},
        {"head_motion": 5.0},
        {"articulation": -0.5},
        {"brow_raise": 2.5},
    ],
)
def test_out_of_range_settings_are_refused(settings):
    with pytest.raises(AnimationInputError):
        MotionSettings(**settings)


def test_blinks_are_never_more_than_six_seconds_apart():
    idle = IdleMotion(MotionSettings(seed=12), FPS)
    shut = [index for index in range(int(600 * FPS)) if idle.pose(index).blink == 1.0]
    starts = [
        index
        for position, index in enumerate(shut)
        if not position or shut[position - 1] != index - 1
    ]
    gaps = np.diff([0, *starts]) / FPS
    assert gaps.max() <= 6.0 + 2 / FPS
    assert 10 <= len(starts) / 10 <= 20  # per minute


def test_emphasis_nods_the_head_and_raises_the_brows_by_the_settings():
    plain = IdleMotion(MotionSettings(seed=3), FPS)
    browed = IdleMotion(MotionSettings(seed=3, brow_raise=1.0), FPS)
    still = IdleMotion(MotionSettings(seed=3, still_head=True, brow_raise=2.0), FPS)
    rest, nodding = plain.pose(40), plain.pose(40, nod=1.0, brow=1.0)
    assert nodding.head_shift_y > rest.head_shift_y + 0.01  # down, a visible share of the face
    assert nodding.brow_raise == 0.0  # brows stay unless asked for
    assert browed.pose(40, nod=1.0, brow=1.0).brow_raise == 1.0
    assert still.pose(40, nod=1.0, brow=0.5).head_shift_y == 0.0
    assert still.pose(40, nod=1.0, brow=0.5).brow_raise == 1.0


@pytest.mark.parametrize("loop_frames", [50, 75, 151, 400])
def test_a_loop_repeats_exactly_and_moves_smoothly_across_its_end(loop_frames):
    idle = IdleMotion(MotionSettings(seed=7, blinks_per_minute=20.0), FPS, loop_frames)
    poses = [idle.pose(index) for index in range(2 * loop_frames + 1)]
    assert poses[:loop_frames] == poses[loop_frames : 2 * loop_frames]
    assert poses[loop_frames] == poses[0]
    roll = np.array([pose.head_roll_degrees for pose in poses])
    shift = np.array([pose.head_shift_x for pose in poses])
    assert np.abs(np.diff(roll)).max() < 0.3 and np.abs(np.diff(shift)).max() < 0.01
    assert np.ptp(roll[:loop_frames]) > 0.1  # it does move
    if loop_frames >= 2 * FPS:
        assert any(pose.blink == 1.0 for pose in poses[:loop_frames])


def test_a_short_loop_does_not_blink():
    idle = IdleMotion(MotionSettings(seed=7), FPS, loop_frames=40)
    assert all(idle.pose(index).blink == 0.0 for index in range(80))
