"""Per-frame idle motion: blinks, gaze, head sway, and the nods and brows of emphasis.

Idle motion is a pure function of (seed, global frame index): no state carries
from one frame to the next, so an utterance that starts at frame 250 continues
exactly where the previous one (frames 0-249) stopped, and the same seed always
gives the same frames. Randomness comes from a counter-based hash (splitmix64)
of (seed, stream, index) rather than a stateful generator.

For an idle loop (``loop_frames``) every motion is made periodic: noise knots,
gaze slots and blink slots are fitted to whole numbers per loop and their random
draws repeat each loop, so frame ``loop_frames`` equals frame 0 and the clip
plays round without a jump.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from avatar_animator.errors import AnimationInputError
from avatar_animator.visemes import REST_SHAPE, MouthShape

_MASK64 = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class MotionSettings:
    """Idle motion and articulation of one animation.

    Attributes:
        seed: Seed of every random choice; the same seed gives the same motion.
        blinks_per_minute: Average blink rate; 0 disables blinks.
        head_motion: Scale of head sway and nods; 1 is natural, 0 keeps it still.
        still_head: Keeps the head still whatever ``head_motion`` says.
        articulation: Scale of mouth movement; 1 is natural.
        brow_raise: Scale of the brow raise on stressed syllables; 0 (the default)
            keeps the brows still, 1 is a clear but natural lift.
    """

    seed: int = 0
    blinks_per_minute: float = 15.0
    head_motion: float = 1.0
    still_head: bool = False
    articulation: float = 1.0
    brow_raise: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.blinks_per_minute <= 60.0:
            raise AnimationInputError(
                f"blinks_per_minute must be 0-60, got {self.blinks_per_minute}"
            )
        if not 0.0 <= self.head_motion <= 3.0:
            raise AnimationInputError(f"head_motion must be 0-3, got {self.head_motion}")
        if not 0.0 <= self.articulation <= 2.0:
            raise AnimationInputError(f"articulation must be 0-2, got {self.articulation}")
        if not 0.0 <= self.brow_raise <= 2.0:
            raise AnimationInputError(f"brow_raise must be 0-2, got {self.brow_raise}")

    @property
    def head_scale(self) -> float:
        """The effective head-motion scale (0 when the head is held still)."""
        return 0.0 if self.still_head else self.head_motion


@dataclass(frozen=True, slots=True)
class FramePose:
    """Everything that moves in one frame.

    Attributes:
        mouth: Mouth controls.
        blink: Eyelid closure, 0 open to 1 shut.
        gaze_x: Horizontal gaze, -1 (left) to 1 (right), in units of a small saccade.
        gaze_y: Vertical gaze, -1 (up) to 1 (down).
        head_roll_degrees: Head rotation in the image plane.
        head_shift_x: Head translation in face sizes (positive right).
        head_shift_y: Head translation in face sizes (positive down, a nod).
        brow_raise: Brow lift, 0 at rest to 1 (about 3% of the face size).
    """

    mouth: MouthShape = REST_SHAPE
    blink: float = 0.0
    gaze_x: float = 0.0
    gaze_y: float = 0.0
    head_roll_degrees: float = 0.0
    head_shift_x: float = 0.0
    head_shift_y: float = 0.0
    brow_raise: float = 0.0


def unit_hash(seed: int, stream: int, index: int) -> float:
    """A uniform number in [0, 1) fixed by (seed, stream, index)."""
    value = _splitmix(_splitmix(_splitmix(seed & _MASK64) ^ stream) ^ (index & _MASK64))
    return value / 2.0**64


def _splitmix(value: int) -> int:
    """One round of the splitmix64 mixer: a bijection with good avalanche."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


def smooth_noise(seed: int, stream: int, position: float, period: int = 0) -> float:
    """Smooth random values in [-1, 1]: Catmull-Rom through hashed knots at integers.

    With a ``period`` (knots), knot k repeats knot k mod period: the noise is periodic.
    """
    knot = math.floor(position)
    fraction = position - knot
    p0, p1, p2, p3 = (
        2.0 * unit_hash(seed, stream, _wrap(knot + offset, period)) - 1.0
        for offset in (-1, 0, 1, 2)
    )
    value = 0.5 * (
        2.0 * p1
        + (p2 - p0) * fraction
        + (2.0 * p0 - 5.0 * p1 + 4.0 * p2 - p3) * fraction**2
        + (3.0 * p1 - p0 - 3.0 * p2 + p3) * fraction**3
    )
    return max(-1.0, min(1.0, value))


def _wrap(index: int, period: int) -> int:
    """``index`` modulo ``period``, or ``index`` itself when there is no period."""
    return index % period if period else index


def _smoothstep(x: float) -> float:
    """0 below 0, 1 above 1, a smooth S-curve between."""
    x = max(0.0, min(1.0, x))
    return x * x * (3.0 - 2.0 * x)


_BLINK, _GAZE_TIME, _GAZE_X, _GAZE_Y, _GAZE_CENTRE = 11, 21, 22, 23, 24
_ROLL_SLOW, _ROLL_FAST, _SWAY, _NOD = 31, 32, 33, 34
_GAZE_SLOT_SECONDS = 1.7
# Deepest emphasis nod, in face sizes (about 4 px on a 512 px frame).
_NOD_DEPTH = 0.025


class IdleMotion:
    """Blinks, gaze and head motion as pure functions of the global frame index."""

    def __init__(self, settings: MotionSettings, fps: float, loop_frames: int = 0) -> None:
        """Creates the idle-motion generator for one frame rate.

        Args:
            settings: Seed and scales.
            fps: Frames per second.
            loop_frames: When positive, every motion repeats after this many frames.
        """
        self._settings = settings
        self._fps = fps
        self._loop_frames = loop_frames
        self._loop_seconds = loop_frames / fps if loop_frames > 0 else 0.0
        self._gaze_slots = self._slots_per_loop(_GAZE_SLOT_SECONDS, minimum=1)
        self._gaze_slot_seconds = self._slot_seconds(_GAZE_SLOT_SECONDS, self._gaze_slots)
        rate = settings.blinks_per_minute
        blink_seconds = 60.0 / rate if rate > 0.0 else 0.0
        # A loop of at least 2 s gets at least one blink, so its poster shows one.
        self._blink_slots = self._slots_per_loop(
            blink_seconds, minimum=1 if self._loop_seconds >= 2.0 else 0
        )
        self._blink_slot_seconds = self._slot_seconds(blink_seconds, self._blink_slots)

    def pose(
        self,
        frame_index: int,
        mouth: MouthShape = REST_SHAPE,
        *,
        nod: float = 0.0,
        brow: float = 0.0,
    ) -> FramePose:
        """The pose of a global frame.

        Args:
            frame_index: Global frame index.
            mouth: The mouth of the frame.
            nod: Emphasis nod depth 0-1 (scaled by the head-motion setting).
            brow: Emphasis brow raise 0-1 (scaled by the brow-raise setting).
        """
        if self._loop_frames:
            frame_index %= self._loop_frames
        seconds = frame_index / self._fps
        head = self._settings.head_scale
        roll = head * (
            1.3 * self._noise(_ROLL_SLOW, seconds, 2.7)
            + 0.35 * self._noise(_ROLL_FAST, seconds, 0.8)
        )
        gaze_x, gaze_y = self._gaze(seconds)
        return FramePose(
            mouth=mouth,
            blink=self._blink(seconds),
            gaze_x=gaze_x,
            gaze_y=gaze_y,
            head_roll_degrees=roll,
            head_shift_x=head * 0.03 * self._noise(_SWAY, seconds, 3.3),
            head_shift_y=head * (0.02 * self._noise(_NOD, seconds, 1.9) + _NOD_DEPTH * nod),
            brow_raise=self._settings.brow_raise * brow,
        )

    def _slots_per_loop(self, slot_seconds: float, minimum: int) -> int:
        """Whole slots in one loop (0 when not looping or no slots)."""
        if not self._loop_seconds or slot_seconds <= 0.0:
            return 0
        return max(minimum, round(self._loop_seconds / slot_seconds))

    def _slot_seconds(self, slot_seconds: float, slots: int) -> float:
        """Slot length, stretched to fit the loop a whole number of times."""
        return self._loop_seconds / slots if slots else slot_seconds

    def _noise(self, stream: int, seconds: float, knot_seconds: float) -> float:
        """Smooth noise with knots ``knot_seconds`` apart (fitted to the loop, if any)."""
        if not self._loop_seconds:
            return smooth_noise(self._settings.seed, stream, seconds / knot_seconds)
        knots = max(2, round(self._loop_seconds / knot_seconds))
        position = seconds * knots / self._loop_seconds
        return smooth_noise(self._settings.seed, stream, position, period=knots)

    def _blink(self, seconds: float) -> float:
        """Eyelid closure: one blink at a random moment of every 60/rate seconds slot.

        Onsets fall in the middle half of their slot, so blinks stay between half
        and one and a half slots apart (2-6 s at 15 per minute). A blink is
        evaluated at the point of the frame's time window nearest its shut phase,
        so every blink shows fully closed in at least one frame.
        """
        slot_seconds = self._blink_slot_seconds
        if slot_seconds <= 0.0 or (self._loop_seconds and not self._blink_slots):
            return 0.0
        seed, slots = self._settings.seed, self._blink_slots
        half_frame = 0.5 / self._fps
        closure = 0.0
        slot = math.floor(seconds / slot_seconds)
        for index in (slot - 1, slot):
            draw = _wrap(index, slots)
            onset = slot_seconds * (index + 0.15 + 0.5 * unit_hash(seed, _BLINK, draw))
            duration = 0.10 + 0.10 * unit_hash(seed, _BLINK + 100, draw)
            shut_start, shut_end = onset + 0.35 * duration, onset + 0.5 * duration
            low, high = seconds - half_frame, seconds + half_frame
            if low <= shut_end and high >= shut_start:
                return 1.0
            nearest = high if high < shut_start else low
            closure = max(closure, _blink_shape((nearest - onset) / duration))
        return closure

    def _gaze(self, seconds: float) -> tuple[float, float]:
        """Gaze direction: fixations broken by quick saccades, one per ~1.7 s slot."""
        slot_seconds, slots = self._gaze_slot_seconds, self._gaze_slots
        seed = self._settings.seed
        slot = math.floor(seconds / slot_seconds)
        onset = slot_seconds * (slot + 0.7 * unit_hash(seed, _GAZE_TIME, _wrap(slot, slots)))
        # The previous slot's saccade always lies in the past (onsets stay in 0-70% of a slot).
        current = slot if onset <= seconds else slot - 1
        if current != slot:
            draw = _wrap(current, slots)
            onset = slot_seconds * (current + 0.7 * unit_hash(seed, _GAZE_TIME, draw))
        target = self._gaze_target(_wrap(current, slots))
        previous = self._gaze_target(_wrap(current - 1, slots))
        progress = _smoothstep((seconds - onset) / 0.05)
        return (
            previous[0] + (target[0] - previous[0]) * progress,
            previous[1] + (target[1] - previous[1]) * progress,
        )

    def _gaze_target(self, index: int) -> tuple[float, float]:
        """Where the eyes rest after saccade ``index``; often back at the centre."""
        seed = self._settings.seed
        if unit_hash(seed, _GAZE_CENTRE, index) < 0.35:
            return 0.0, 0.0
        return (
            2.0 * unit_hash(seed, _GAZE_X, index) - 1.0,
            0.5 * (2.0 * unit_hash(seed, _GAZE_Y, index) - 1.0),
        )


def _blink_shape(phase: float) -> float:
    """Closure over a blink's phase 0-1: fast close, short hold, slower open."""
    if phase <= 0.0 or phase >= 1.0:
        return 0.0
    if phase < 0.35:
        return _smoothstep(phase / 0.35)
    if phase <= 0.5:
        return 1.0
    return 1.0 - _smoothstep((phase - 0.5) / 0.5)
