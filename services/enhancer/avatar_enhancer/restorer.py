"""The ``onnx`` backend: restores the face of a frame and leaves everything else alone.

Per frame: align the face to the FFHQ template from its five landmarks (a similarity
transform, so the face is not distorted), restore the S x S crop with the model,
and paste the result back through the inverse transform under a feathered elliptical
mask that covers the face only: hair, neck and background keep their pixels exactly.
:meth:`OnnxRestorer.restore_face` and :meth:`OnnxRestorer.paste` are separate, so a
face restored once (an avatar's still photo) can be pasted into many frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from avatar_enhancer.engine import EnhanceSettings
from avatar_enhancer.faces import FFHQ_TEMPLATE, FaceLandmarks
from avatar_enhancer.restoration_model import RestorationModel

# The face inside the aligned crop: an ellipse around eyes, nose, mouth and chin, as
# fractions of the crop's side (the FFHQ crop also holds hair and background, which a
# face model may repaint; those must not change).
MASK_CENTRE = (0.5, 0.55)
MASK_AXES = (0.30, 0.37)
# Feather width, as a fraction of the side: wide enough to hide the seam.
FEATHER = 0.05


@dataclass(frozen=True, slots=True)
class RestoredFace:
    """A restored face crop and where it came from.

    Attributes:
        crop: S x S x 3 RGB uint8, restored, in the aligned frame.
        to_crop: 2 x 3 affine from frame pixels to crop pixels.
    """

    crop: np.ndarray
    to_crop: np.ndarray


def alignment(landmarks: FaceLandmarks, size: int) -> np.ndarray:
    """The 2 x 3 similarity transform from frame pixels to the S x S FFHQ-aligned crop."""
    transform, _ = cv2.estimateAffinePartial2D(
        landmarks.points, FFHQ_TEMPLATE * np.float32(size), method=cv2.LMEDS
    )
    if transform is None:  # degenerate points: fall back to the eyes alone
        transform, _ = cv2.estimateAffinePartial2D(
            landmarks.points[:2], FFHQ_TEMPLATE[:2] * np.float32(size)
        )
    return transform


def face_mask(size: int) -> np.ndarray:
    """The feathered face mask of an S x S crop, float32 in [0, 1]."""
    mask = np.zeros((size, size), np.float32)
    feather = max(1.0, FEATHER * size)
    centre = (round(MASK_CENTRE[0] * size), round(MASK_CENTRE[1] * size))
    # Shrunk by the feather, so the blurred edge stays inside the ellipse.
    axes = (round(MASK_AXES[0] * size - feather), round(MASK_AXES[1] * size - feather))
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, thickness=-1, lineType=cv2.LINE_AA)
    mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=feather / 2)
    mask[mask < 1.0 / 512] = 0.0  # exactly zero outside: those pixels stay bit for bit
    return mask


class OnnxRestorer:
    """Face restoration with a user-supplied ONNX model.

    Args:
        model: The loaded restoration model.
    """

    name = "onnx"
    needs_faces = True

    def __init__(self, model: RestorationModel) -> None:
        self.model = model
        self._mask = face_mask(model.layout.size)

    def restore_face(
        self, rgb: np.ndarray, landmarks: FaceLandmarks, fidelity: float
    ) -> RestoredFace:
        """Aligns the face of ``rgb`` to the template and restores it."""
        size = self.model.layout.size
        to_crop = alignment(landmarks, size)
        crop = cv2.warpAffine(
            rgb, to_crop, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        return RestoredFace(self.model.restore(crop, fidelity), to_crop)

    def paste(self, rgb: np.ndarray, face: RestoredFace) -> np.ndarray:
        """``rgb`` with the restored face blended in; pixels outside the mask unchanged."""
        to_frame = cv2.invertAffineTransform(face.to_crop)
        region = _region(to_frame, self.model.layout.size, rgb.shape)
        if region is None:
            return rgb
        left, top, right, bottom = region
        shifted = to_frame.copy()
        shifted[:, 2] -= (left, top)
        size = (right - left, bottom - top)
        warped = cv2.warpAffine(face.crop, shifted, size, flags=cv2.INTER_LINEAR)
        mask = cv2.warpAffine(self._mask, shifted, size, flags=cv2.INTER_LINEAR)[..., None]
        out = rgb.copy()
        patch = out[top:bottom, left:right].astype(np.float32)
        blended = patch + mask * (warped.astype(np.float32) - patch)
        out[top:bottom, left:right] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
        return out

    def enhance(
        self,
        rgb: np.ndarray,
        settings: EnhanceSettings,
        landmarks: FaceLandmarks | None = None,
    ) -> np.ndarray:
        """Restores the frame's face (upscaled first when asked); no face, no change.

        Args:
            rgb: Input frame, height x width x 3, uint8.
            settings: Scale and fidelity.
            landmarks: The face's five points in ``rgb``; None leaves the frame as it is.
        """
        if settings.upscale == 2:
            height, width = rgb.shape[:2]
            rgb = cv2.resize(rgb, (width * 2, height * 2), interpolation=cv2.INTER_CUBIC)
            landmarks = None if landmarks is None else landmarks.scaled(2.0)
        if landmarks is None:
            return rgb
        return self.paste(rgb, self.restore_face(rgb, landmarks, settings.fidelity))


def _region(
    to_frame: np.ndarray, size: int, shape: tuple[int, ...]
) -> tuple[int, int, int, int] | None:
    """The frame rectangle (left, top, right, bottom) the crop's mask can reach."""
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float32)
    mapped = corners @ to_frame.T
    height, width = shape[:2]
    left, top = np.floor(mapped.min(axis=0)).astype(int)
    right, bottom = np.ceil(mapped.max(axis=0)).astype(int) + 1
    left, top = max(0, int(left)), max(0, int(top))
    right, bottom = min(width, int(right)), min(height, int(bottom))
    if right <= left or bottom <= top:
        return None
    return left, top, right, bottom
