"""The animation engine: speech (audio + optional phoneme timings) in, RGB frames out.

An :class:`AnimationSession` animates one utterance of a prepared face. Audio and
phonemes are pushed as they arrive; :meth:`AnimationSession.render_ready` returns
every frame whose time the input already covers (minus a small lookahead that
coarticulation and loudness smoothing need), and :meth:`AnimationSession.finish`
renders the rest. The session makes exactly ``ceil(samples * fps / sample_rate)``
frames, frame k showing the time ``k / fps`` of the utterance.

The mouth follows the phoneme timings when any were pushed (their openings scaled
by the audio's loudness), otherwise the audio alone (loudness and brightness).
Stressed vowels, or loudness peaks without timings, bring small nods and, when
asked for, brow raises. Idle motion (blinks, gaze, head) depends only on the seed
and the global frame index ``start_frame + k``, so consecutive utterances join
without a jump; with ``loop_frames`` it repeats, for a seamless idle loop.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace

import numpy as np

from avatar_animator.audio import FrameSound, SoundMeter, audio_mouth
from avatar_animator.emphasis import EmphasisTrack
from avatar_animator.errors import AnimationInputError
from avatar_animator.face import FacePreparer, PreparedFace
from avatar_animator.motion import IdleMotion, MotionSettings
from avatar_animator.visemes import REST_SHAPE, MouthShape, VisemeTrack
from avatar_core.timing import Phoneme

__all__ = ["AnimationSession", "FacePreparer", "MotionSettings", "PreparedFace"]

LOOKAHEAD_SECONDS = 0.08
"""Input beyond a frame's time that the frame waits for (coarticulation, smoothing)."""

MAX_FPS = 120.0
"""Highest accepted frame rate."""

TIMED_OPENING_FLOOR = 0.15
"""Share of a viseme's opening kept in the quietest frames (louder opens up to all of it)."""

MAX_LOOP_FRAMES = 100_000
"""Longest idle loop, in frames."""

# Loudness peaks (without timings) count as emphasis from this loudness up.
_EMPHASIS_LOUDNESS = 0.85
# ... and rising at least this much (dB) within the quarter second before the peak.
_EMPHASIS_RISE_DB = 6.0


class AnimationSession:
    """Animates one utterance of a prepared face; not thread-safe (one caller at a time)."""

    def __init__(
        self,
        face: PreparedFace,
        *,
        fps: float = 25.0,
        sample_rate: int = 22050,
        start_frame: int = 0,
        motion: MotionSettings | None = None,
        loop_frames: int = 0,
    ) -> None:
        """Starts an animation.

        Args:
            face: The prepared photo.
            fps: Frames per second, above 0 and at most 120.
            sample_rate: Sample rate of the pushed audio, 4-192 kHz.
            start_frame: Global index of this utterance's first frame (idle motion
                continues from the previous utterance).
            motion: Idle motion and articulation settings.
            loop_frames: When positive, idle motion repeats every this many frames
                (global frame ``loop_frames`` equals frame 0): a seamless idle loop.

        Raises:
            AnimationInputError: A setting is out of range.
        """
        if not 0.0 < fps <= MAX_FPS or not math.isfinite(fps):
            raise AnimationInputError(f"fps must be above 0 and at most {MAX_FPS:g}, got {fps}")
        if not 4000 <= sample_rate <= 192_000:
            raise AnimationInputError(f"sample_rate must be 4000-192000 Hz, got {sample_rate}")
        if start_frame < 0:
            raise AnimationInputError(f"start_frame must not be negative, got {start_frame}")
        if not 0 <= loop_frames <= MAX_LOOP_FRAMES:
            raise AnimationInputError(f"loop_frames must be 0-{MAX_LOOP_FRAMES}, got {loop_frames}")
        self.face = face
        self.fps = float(fps)
        self.sample_rate = int(sample_rate)
        self.start_frame = int(start_frame)
        self.motion = motion or MotionSettings()
        self._idle = IdleMotion(self.motion, self.fps, loop_frames)
        self._visemes = VisemeTrack(
            min_closure_seconds=1.0 / self.fps, frame_seconds=1.0 / self.fps
        )
        self._meter = SoundMeter(self.sample_rate, self.fps)
        self._emphasis = EmphasisTrack(self.motion.seed)
        self._recent_levels: list[tuple[float, float]] = []
        self._rise_frames = max(1, round(0.25 * self.fps))
        self._audio = np.zeros(0, dtype=np.int16)
        self._audio_length = 0
        self._rendered = 0
        self._finished = False

    @property
    def frames_rendered(self) -> int:
        """Frames returned so far."""
        return self._rendered

    @property
    def used_timings(self) -> bool:
        """Whether the mouth follows phoneme timings (rather than the audio alone)."""
        return len(self._visemes) > 0

    @property
    def audio_seconds(self) -> float:
        """Duration of the audio pushed so far."""
        return self._audio_length / self.sample_rate

    def push_audio(self, samples: np.ndarray) -> None:
        """Appends mono int16 samples (in order)."""
        self._check_open()
        samples = np.asarray(samples)
        if samples.dtype != np.int16:
            raise AnimationInputError(f"audio must be int16 samples, got {samples.dtype}")
        if samples.ndim != 1:
            raise AnimationInputError(f"audio must be mono (1-D), got shape {samples.shape}")
        needed = self._audio_length + len(samples)
        if needed > len(self._audio):
            # Grow geometrically: appends stay amortised O(1) per sample.
            grown = np.zeros(max(needed, 2 * len(self._audio), 4096), dtype=np.int16)
            grown[: self._audio_length] = self._audio[: self._audio_length]
            self._audio = grown
        self._audio[self._audio_length : needed] = samples
        self._audio_length = needed

    def push_phonemes(self, phonemes: Iterable[Phoneme]) -> None:
        """Adds timed phonemes (IPA; seconds from the utterance start)."""
        self._check_open()
        checked = []
        for phoneme in phonemes:
            if not (math.isfinite(phoneme.start_seconds) and math.isfinite(phoneme.end_seconds)):
                raise AnimationInputError(f"phoneme {phoneme.symbol!r} has a non-finite time")
            if phoneme.start_seconds < 0 or phoneme.end_seconds < phoneme.start_seconds:
                raise AnimationInputError(
                    f"phoneme {phoneme.symbol!r} has an invalid span "
                    f"{phoneme.start_seconds:.3f}-{phoneme.end_seconds:.3f} s"
                )
            checked.append(phoneme)
        self._visemes.extend(checked)
        self._emphasis.add_phonemes(checked)

    def render_ready(self, limit: int | None = None) -> list[np.ndarray]:
        """Renders every frame the input received so far determines (at most ``limit``).

        Returns:
            New RGB frames (height, width, 3) uint8, in order; possibly none.
        """
        if self._finished:
            return []
        count = self._ready_count()
        if limit is not None:
            count = min(count, self._rendered + limit)
        return self._render_until(count)

    def finish(self) -> list[np.ndarray]:
        """Ends the input and renders the remaining frames.

        Returns:
            The frames not returned yet; afterwards the total is
            ``ceil(samples * fps / sample_rate)``.
        """
        if self._finished:
            return []
        frames = self._render_until(self.total_frames())
        self._finished = True
        return frames

    def total_frames(self) -> int:
        """Frames the audio pushed so far calls for: ``ceil(samples * fps / sample_rate)``."""
        # Rounding guard: 22050 samples at 25 fps and 22050 Hz is exactly 25 frames.
        exact = self._audio_length * self.fps / self.sample_rate
        return max(0, math.ceil(exact - 1e-9))

    def _ready_count(self) -> int:
        """Frames k with ``k / fps`` covered by the input, lookahead included."""
        covered = self.audio_seconds - LOOKAHEAD_SECONDS
        if self.used_timings:
            covered = min(covered, self._visemes.end_seconds - LOOKAHEAD_SECONDS)
        if covered < 0:
            return 0
        return min(math.floor(covered * self.fps + 1e-9) + 1, self.total_frames())

    def _render_until(self, count: int) -> list[np.ndarray]:
        """Renders frames ``frames_rendered .. count - 1``."""
        frames = []
        samples = self._audio[: self._audio_length]
        while self._rendered < count:
            index = self._rendered
            sound = self._meter.measure(samples, index)
            mouth = self._mouth(index, sound)
            seconds = index / self.fps
            pose = self._idle.pose(
                self.start_frame + index,
                mouth,
                nod=self._emphasis.nod(seconds),
                brow=self._emphasis.brow(seconds),
            )
            frames.append(self.face.warper.render(pose))
            self._rendered += 1
        return frames

    def _mouth(self, index: int, sound: FrameSound) -> MouthShape:
        """The mouth of local frame ``index``, scaled by the articulation setting."""
        if self.used_timings:
            shape = self._visemes.mouth_at(index / self.fps)
            # A louder syllable opens the jaw wider, as a speaker's does.
            gain = TIMED_OPENING_FLOOR + (1.0 - TIMED_OPENING_FLOOR) * sound.amplitude
            shape = replace(shape, opening=shape.opening * gain)
        else:
            self._note_loudness_peak(index, sound)
            shape = audio_mouth(sound)
        scale = self.motion.articulation
        if scale == 1.0:
            return shape
        # Scale the motion away from the photo's own mouth, not the raw controls.
        return MouthShape(
            opening=max(0.0, shape.opening * scale),
            rest=max(0.0, REST_SHAPE.rest + scale * (shape.rest - REST_SHAPE.rest)),
            width=shape.width * scale,
            upper_lip=shape.upper_lip * scale,
            lower_lip=shape.lower_lip * scale,
            tongue=shape.tongue,
            tongue_tip=shape.tongue_tip,
        )

    def _note_loudness_peak(self, index: int, sound: FrameSound) -> None:
        """Without timings, a syllable's loudness peak is a moment of emphasis.

        The previous frame counts (now that this one is known) when it is a local
        maximum of the level, loud, and well above the quietest level of the
        quarter second before it: a syllable rising, not a steady sound wavering.
        """
        history = self._recent_levels
        history.append((sound.level_db, sound.loudness))
        del history[: -(self._rise_frames + 2)]
        if len(history) < 3:
            return
        (before, _), (level, loudness), (after, _) = history[-3:]
        quietest = min(value for value, _ in history[:-2])
        if (
            before <= level > after
            and loudness >= _EMPHASIS_LOUDNESS
            and level - quietest >= _EMPHASIS_RISE_DB
        ):
            self._emphasis.add((index - 1) / self.fps)

    def _check_open(self) -> None:
        if self._finished:
            raise AnimationInputError("the animation is finished: no more input is accepted")
