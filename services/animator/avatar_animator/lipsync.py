"""Neural lip-sync: a user-supplied model draws the mouth, the rig keeps the idle life.

Per frame the default renderer draws the face with its mouth at rest (the photo's own
mouth), with its blinks, gaze, brows and head motion. A face crop that follows the
head (the still's crop carried by the frame's head transform, so it is steady from
frame to frame) goes to the model with the frame's mel window; the model's face comes
back and is pasted over the lower face under a feathered mask (jaw, chin, lips and
cheeks below the nose): pixels outside the mask keep the renderer's values exactly.

* Wav2Lip: a square crop from the brows to a little below the chin and from ear to
  ear, shrunk to the model's 96 px (its lower half lies below the nose).
* EDTalk: the face aligned to the FFHQ five-point template at the model's 256 px.

A :class:`LipSyncSession` stands in for an
:class:`~avatar_animator.engine.AnimationSession`: same calls, same frames and
counts, with each frame held back until the audio covers its mel window (about
0.11 s beyond its time), so frames do not depend on how the audio was chunked. All
frames one call renders go to the model as one batch.
"""

from __future__ import annotations

import time
from dataclasses import replace

import cv2
import numpy as np

from avatar_animator.engine import AnimationSession, MotionSettings, PreparedFace
from avatar_animator.lipsync_audio import MelWindows
from avatar_animator.lipsync_crop import CropGeometry, compose, crop_geometry, paste
from avatar_animator.lipsync_model import EDTALK, LipSyncModel
from avatar_animator.metrics import AnimatorMetrics
from avatar_animator.motion import FramePose
from avatar_animator.visemes import REST_SHAPE
from avatar_core.timing import Phoneme


class LipSyncRenderer:
    """Draws the lower face of rendered frames with a lip-sync model; thread-safe.

    Args:
        model: The loaded model.
        weight: EDTalk's ``weight`` (strength of the lip motion); Wav2Lip ignores it.
    """

    name = "onnx"

    def __init__(self, model: LipSyncModel, weight: float = 0.5) -> None:
        self.model = model
        self.weight = weight

    def geometry(self, landmarks: np.ndarray) -> CropGeometry:
        """The crop and mask of a face with these still landmarks."""
        return crop_geometry(landmarks, self.model.layout.family, self.model.layout.size)

    def session(
        self,
        face: PreparedFace,
        *,
        metrics: AnimatorMetrics | None = None,
        **arguments,
    ) -> LipSyncSession:
        """A session like :class:`AnimationSession` (same arguments) whose mouth is the model's."""
        return LipSyncSession(self, face, metrics=metrics, **arguments)

    def apply(
        self,
        frames: list[np.ndarray],
        head_matrices: list[np.ndarray | None],
        mels: np.ndarray,
        geometry: CropGeometry,
    ) -> list[np.ndarray]:
        """The frames with their lower faces drawn by the model, as one batch.

        Args:
            frames: Rendered RGB frames.
            head_matrices: Each frame's head affine (still to frame pixels), None if still.
            mels: (n, 1, 80, 16) mel windows of the frames.
            geometry: The face's crop and mask.
        """
        if not frames:
            return []
        to_crops = [
            geometry.to_crop
            if matrix is None
            else compose(geometry.to_crop, cv2.invertAffineTransform(matrix))
            for matrix in head_matrices
        ]
        size = (geometry.crop_size, geometry.crop_size)
        crops = [
            cv2.warpAffine(
                frame, to_crop, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
            for frame, to_crop in zip(frames, to_crops, strict=True)
        ]
        outputs = self.model.run(mels, self._model_input(crops), self.weight)
        faces = self._faces(outputs, geometry.crop_size)
        return [
            paste(frame, face, to_crop, geometry)
            for frame, face, to_crop in zip(frames, faces, to_crops, strict=True)
        ]

    def _model_input(self, crops: list[np.ndarray]) -> np.ndarray:
        """The model's ``target`` batch from RGB crops."""
        size = self.model.layout.size
        resized = np.stack(
            [
                crop
                if crop.shape[0] == size
                else cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
                for crop in crops
            ]
        ).astype(np.float32) / np.float32(255.0)
        if self.model.layout.family == EDTALK:
            return resized.transpose(0, 3, 1, 2)
        bgr = resized[..., ::-1]
        masked = bgr.copy()
        masked[:, size // 2 :] = 0.0
        return np.concatenate([masked, bgr], axis=3).transpose(0, 3, 1, 2)

    def _faces(self, outputs: np.ndarray, crop_size: int) -> list[np.ndarray]:
        """RGB uint8 crops of ``crop_size`` from the model's outputs."""
        images = np.clip(outputs.transpose(0, 2, 3, 1) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        if self.model.layout.family != EDTALK:
            images = images[..., ::-1]
        return [
            np.ascontiguousarray(image)
            if image.shape[0] == crop_size
            else cv2.resize(image, (crop_size, crop_size), interpolation=cv2.INTER_CUBIC)
            for image in images
        ]

    def warm(self) -> None:
        """Runs the model once, so a broken model fails at start, not in a stream."""
        size = self.model.layout.size
        channels = 3 if self.model.layout.family == EDTALK else 6
        mels = np.full((1, 1, 80, 16), -4.0, np.float32)
        self.model.run(mels, np.full((1, channels, size, size), 0.5, np.float32), self.weight)


class _PoseRecorder:
    """Stands in for a face's renderer: draws each pose with the mouth at rest (the
    model draws the mouth) and keeps the pose's head transform for the crop."""

    def __init__(self, warper) -> None:
        self._warper = warper
        self.head_matrices: list[np.ndarray | None] = []

    def render(self, pose: FramePose) -> np.ndarray:
        self.head_matrices.append(self._warper.rig.head_matrix(pose))
        return self._warper.render(replace(pose, mouth=REST_SHAPE))

    def __getattr__(self, name: str):
        return getattr(self._warper, name)


class LipSyncSession:
    """An animation whose mouth a lip-sync model draws; the calls of an AnimationSession.

    Args:
        renderer: The model and how it is applied.
        face: The prepared photo.
        metrics: Where the model's time per frame is recorded, if anywhere.
        **arguments: What :class:`AnimationSession` takes besides the face (fps,
            sample_rate, start_frame, motion, loop_frames).

    Raises:
        AnimationInputError: A setting is out of range.
    """

    def __init__(
        self,
        renderer: LipSyncRenderer,
        face: PreparedFace,
        *,
        metrics: AnimatorMetrics | None = None,
        **arguments,
    ) -> None:
        self._renderer = renderer
        self._recorder = _PoseRecorder(face.warper)
        self._session = AnimationSession(replace(face, warper=self._recorder), **arguments)
        self._geometry = renderer.geometry(face.landmarks)
        self._mels = MelWindows(self._session.sample_rate, self._session.fps)
        self._metrics = metrics
        self._waiting: list[tuple[np.ndarray, np.ndarray | None]] = []
        self._returned = 0
        self.face = face

    fps = property(lambda self: self._session.fps, doc="Frames per second.")
    sample_rate = property(lambda self: self._session.sample_rate, doc="Audio sample rate.")
    start_frame = property(lambda self: self._session.start_frame, doc="First global frame.")

    @property
    def motion(self) -> MotionSettings:
        """Idle motion and articulation settings."""
        return self._session.motion

    @property
    def frames_rendered(self) -> int:
        """Frames returned so far (rendered frames waiting for audio do not count)."""
        return self._returned

    @property
    def used_timings(self) -> bool:
        """Whether phoneme timings drove the rig (nods, the mouth's timing)."""
        return self._session.used_timings

    @property
    def audio_seconds(self) -> float:
        """Duration of the audio pushed so far."""
        return self._session.audio_seconds

    def total_frames(self) -> int:
        """Frames the audio pushed so far calls for."""
        return self._session.total_frames()

    def push_audio(self, samples: np.ndarray) -> None:
        """Appends mono int16 samples (in order)."""
        self._session.push_audio(samples)
        self._mels.push(samples)

    def push_phonemes(self, phonemes: list[Phoneme]) -> None:
        """Adds timed phonemes (they time the rig's nods and emphasis)."""
        self._session.push_phonemes(phonemes)

    def render_ready(self, limit: int | None = None) -> list[np.ndarray]:
        """Every frame the input so far determines, its mel window included (at most
        ``limit``)."""
        self._collect(self._session.render_ready(limit))
        most = len(self._waiting) if limit is None else min(limit, len(self._waiting))
        ready = 0
        while ready < most and self._mels.ready(self._returned + ready):
            ready += 1
        return self._lip_sync(ready)

    def finish(self) -> list[np.ndarray]:
        """Ends the input and returns the remaining frames (silence after the end)."""
        self._collect(self._session.finish())
        return self._lip_sync(len(self._waiting))

    def _collect(self, frames: list[np.ndarray]) -> None:
        matrices = self._recorder.head_matrices
        self._waiting.extend(zip(frames, matrices[: len(frames)], strict=True))
        del matrices[: len(frames)]

    def _lip_sync(self, count: int) -> list[np.ndarray]:
        """Draws the mouths of the first ``count`` waiting frames and returns them."""
        if count == 0:
            return []
        started = time.perf_counter()
        taken, self._waiting = self._waiting[:count], self._waiting[count:]
        mels = self._mels.windows(self._returned, count)
        frames = self._renderer.apply(
            [frame for frame, _ in taken], [matrix for _, matrix in taken], mels, self._geometry
        )
        self._returned += count
        if self._metrics is not None:
            self._metrics.record_lipsync(count, time.perf_counter() - started)
        return frames
