"""Per-frame motion: idle motion (blinks, head, gaze) and the loudness-driven mouth.

Idle motion is a pure function of (seed, global frame index): no state carries
from one frame to the next, so an utterance that starts at frame 250 continues
exactly where the previous one (frames 0-249) stopped, and the same seed always
gives the same frames. Randomness comes from a counter-based hash (splitmix64)
of (seed, stream, index) rather than a stateful generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from avatar.services.animator.errors import AnimationInputError
from avatar.services.animator.visemes import REST_SHAPE, MouthShape

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
    """

    seed: int = 0
    blinks_per_minute: float = 15.0
    head_motion: float = 1.0
    still_head: bool = False
    articulation: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.blinks_per_minute <= 60.0:
            raise AnimationInputError(
                f"blinks_per_minute must be 0-60, got {self.blinks_per_minute}"
            )
        if not 0.0 <= self.head_motion <= 3.0:
            raise AnimationInputError(f"head_motion must be 0-3, got {self.head_motion}")
        if not 0.0 <= self.articulation <= 2.0:
            raise AnimationInputError(f"articulation must be 0-2, got {self.articulation}")

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
    """

    mouth: MouthShape = REST_SHAPE
    blink: float = 0.0
    gaze_x: float = 0.0
    gaze_y: float = 0.0
    head_roll_degrees: float = 0.0
    head_shift_x: float = 0.0
    head_shift_y: float = 0.0


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


def smooth_noise(seed: int, stream: int, position: float) -> float:
    """Smooth random values in [-1, 1]: Catmull-Rom through hashed knots at integers."""
    knot = math.floor(position)
    fraction = position - knot
    p0, p1, p2, p3 = (
        2.0 * unit_hash(seed, stream, knot + offset) - 1.0 for offset in (-1, 0, 1, 2)
    )
    value = 0.5 * (
        2.0 * p1
        + (p2 - p0) * fraction
        + (2.0 * p0 - 5.0 * p1 + 4.0 * p2 - p3) * fraction**2
        + (3.0 * p1 - p0 - 3.0 * p2 + p3) * fraction**3
    )
    return max(-1.0, min(1.0, value))


def _smoothstep(x: float) -> float:
    """0 below 0, 1 above 1, a smooth S-curve between."""
    x = max(0.0, min(1.0, x))
    return x * x * (3.0 - 2.0 * x)


_BLINK, _GAZE_TIME, _GAZE_X, _GAZE_Y, _GAZE_CENTRE = 11, 21, 22, 23, 24
_ROLL_SLOW, _ROLL_FAST, _SWAY, _NOD = 31, 32, 33, 34
_GAZE_SLOT_SECONDS = 1.7


class IdleMotion:
    """Blinks, gaze and head motion as pure functions of the global frame index."""

    def __init__(self, settings: MotionSettings, fps: float) -> None:
        """Creates the idle-motion generator for one frame rate."""
        self._settings = settings
        self._fps = fps

    def pose(self, frame_index: int, mouth: MouthShape = REST_SHAPE) -> FramePose:
        """The pose of a global frame, with the given mouth."""
        seconds = frame_index / self._fps
        seed = self._settings.seed
        head = self._settings.head_scale
        roll = head * (
            1.3 * smooth_noise(seed, _ROLL_SLOW, seconds / 2.7)
            + 0.35 * smooth_noise(seed, _ROLL_FAST, seconds / 0.8)
        )
        gaze_x, gaze_y = self._gaze(seconds)
        return FramePose(
            mouth=mouth,
            blink=self._blink(seconds),
            gaze_x=gaze_x,
            gaze_y=gaze_y,
            head_roll_degrees=roll,
            head_shift_x=head * 0.03 * smooth_noise(seed, _SWAY, seconds / 3.3),
            head_shift_y=head * 0.02 * smooth_noise(seed, _NOD, seconds / 1.9),
        )

    def _blink(self, seconds: float) -> float:
        """Eyelid closure: one blink at a random moment of every 60/rate seconds slot.

        A blink is evaluated at the point of the frame's time window nearest its
        shut phase, so every blink shows fully closed in at least one frame.
        """
        rate = self._settings.blinks_per_minute
        if rate <= 0.0:
            return 0.0
        slot_seconds = 60.0 / rate
        half_frame = 0.5 / self._fps
        closure = 0.0
        slot = math.floor(seconds / slot_seconds)
        for index in (slot - 1, slot):
            onset = slot_seconds * (
                index + 0.1 + 0.75 * unit_hash(self._settings.seed, _BLINK, index)
            )
            duration = 0.10 + 0.10 * unit_hash(self._settings.seed, _BLINK + 100, index)
            shut_start, shut_end = onset + 0.35 * duration, onset + 0.5 * duration
            low, high = seconds - half_frame, seconds + half_frame
            if low <= shut_end and high >= shut_start:
                return 1.0
            nearest = high if high < shut_start else low
            closure = max(closure, _blink_shape((nearest - onset) / duration))
        return closure

    def _gaze(self, seconds: float) -> tuple[float, float]:
        """Gaze direction: fixations broken by quick saccades, one per ~1.7 s slot."""
        slot = math.floor(seconds / _GAZE_SLOT_SECONDS)
        seed = self._settings.seed
        onset = _GAZE_SLOT_SECONDS * (slot + 0.7 * unit_hash(seed, _GAZE_TIME, slot))
        # The previous slot's saccade always lies in the past (onsets stay in 0-70% of a slot).
        current = slot if onset <= seconds else slot - 1
        if current != slot:
            onset = _GAZE_SLOT_SECONDS * (current + 0.7 * unit_hash(seed, _GAZE_TIME, current))
        target, previous = self._gaze_target(current), self._gaze_target(current - 1)
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


class LoudnessMouth:
    """Mouth shapes from the audio alone (no phoneme timings): louder opens wider.

    Loudness is the RMS level of the frame's time window, smoothed over the
    neighbouring frames and compared with the loudest level heard so far, so a
    quiet voice still moves the mouth. Frames must be asked for in order.
    """

    def __init__(self, sample_rate: int, fps: float) -> None:
        """Creates the mapper for one sample rate and frame rate."""
        self._sample_rate = sample_rate
        self._fps = fps
        self._peak_db = -24.0  # a floor: near-silent audio must not open the mouth

    def mouth(self, samples: np.ndarray, frame_index: int) -> MouthShape:
        """The mouth of local frame ``frame_index`` given the utterance's samples so far."""
        levels = [self._level_db(samples, frame_index + offset) for offset in (-1, 0, 1)]
        level = 0.25 * levels[0] + 0.5 * levels[1] + 0.25 * levels[2]
        self._peak_db = max(self._peak_db, levels[1])
        loudness = min(1.0, max(0.0, (level - (self._peak_db - 30.0)) / 24.0))
        return MouthShape(opening=0.38 * loudness, rest=1.0 - loudness, width=0.03 * loudness)

    def _level_db(self, samples: np.ndarray, frame_index: int) -> float:
        """RMS level (dBFS) of one frame period centred on the frame's time."""
        centre = frame_index * self._sample_rate / self._fps
        half = 0.5 * self._sample_rate / self._fps
        start, stop = max(0, round(centre - half)), max(0, round(centre + half))
        window = samples[start:stop]
        if window.size == 0:
            return -120.0
        rms = float(np.sqrt(np.mean(np.square(window, dtype=np.float64))))
        return 20.0 * math.log10(rms / 32768.0 + 1e-6)
