"""Where a lip-sync model's face crop lies, and how its face goes back into a frame.

The crop is fixed per face, from the still's 68 landmarks: for Wav2Lip a square,
pixel-aligned box from the brows to a little below the chin and from ear to ear (its
lower half below the nose); for EDTalk the FFHQ five-point alignment at the model's
size. The mask is the lower face in crop pixels, feathered, exactly zero outside, so
pasting changes nothing beyond it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from avatar_animator.lipsync_model import EDTALK

# FFHQ's five points (eye centres, nose tip, mouth corners) in a unit square.
FFHQ_FIVE_POINTS = (
    np.array(
        [
            [192.98138, 239.94708],
            [318.90277, 240.19360],
            [256.63416, 314.01935],
            [201.26117, 371.41043],
            [313.08905, 371.15118],
        ],
        dtype=np.float32,
    )
    / 512.0
)
# The Wav2Lip crop: brows to chin and ear to ear, grown by this share and set this
# share of its side lower (detector boxes of the training data reach below the chin).
_CROP_GROWTH = 1.1
_CROP_DROP = 0.05
# The mask's chin reaches this share of the face size below the chin, for a jaw that
# opens wider than the photo's.
_CHIN_ROOM = 0.08
# Feather of the mask's edge, in face sizes.
_FEATHER = 0.06
# Jaw landmarks 2-14 along the chin, then the bottom of the nose (35-31) back across.
_LOWER_FACE = [*range(2, 15), 35, 34, 33, 32, 31]
# How far down each chin landmark (5-11) moves to make room for the jaw.
_CHIN_WEIGHTS = {5: 0.3, 6: 0.6, 7: 0.85, 8: 1.0, 9: 0.85, 10: 0.6, 11: 0.3}


@dataclass(frozen=True, slots=True)
class CropGeometry:
    """Where a face's model crop lies in its still, and the mask pasted back through.

    Attributes:
        to_crop: 2 x 3 affine from still pixels to crop pixels.
        crop_size: Side of the crop in pixels (before resizing to the model's size).
        mask: (crop_size, crop_size) float32 in [0, 1], zero outside the lower face.
        mask_box: (left, top, right, bottom) of the mask's non-zero pixels in the crop.
    """

    to_crop: np.ndarray
    crop_size: int
    mask: np.ndarray
    mask_box: tuple[int, int, int, int]


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """Eye centres, nose tip and mouth corners of 68 landmarks, (5, 2) float32."""
    points = np.asarray(landmarks, dtype=np.float32)
    return np.stack(
        [points[36:42].mean(axis=0), points[42:48].mean(axis=0), points[30], points[48], points[54]]
    )


def crop_geometry(landmarks: np.ndarray, family: str, model_size: int) -> CropGeometry:
    """The crop and lower-face mask of a face, from its still's 68 landmarks."""
    points = np.asarray(landmarks, dtype=np.float64).reshape(68, 2)
    face_size = float(max(points.max(axis=0) - points.min(axis=0)))
    if family == EDTALK:
        to_crop, _ = cv2.estimateAffinePartial2D(
            five_points(points), FFHQ_FIVE_POINTS * np.float32(model_size), method=cv2.LMEDS
        )
        crop_size = model_size
    else:
        to_crop, crop_size = _wav2lip_box(points)
    mask = _lower_face_mask(points, to_crop, crop_size, face_size)
    if family != EDTALK:
        # Only the crop's lower half is the model's own: fade in below the middle.
        feather = _FEATHER * face_size * _scale(to_crop)
        rows = (np.arange(crop_size, dtype=np.float32) - crop_size / 2) / max(feather, 1.0)
        mask *= np.clip(rows, 0.0, 1.0)[:, np.newaxis]
    mask[mask < 1.0 / 512] = 0.0  # exactly zero outside: those pixels stay bit for bit
    ys, xs = np.nonzero(mask)
    if not len(xs):  # a degenerate face: nothing to paste
        return CropGeometry(to_crop.astype(np.float64), crop_size, mask, (0, 0, 0, 0))
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    return CropGeometry(to_crop.astype(np.float64), crop_size, mask, box)


def _wav2lip_box(points: np.ndarray) -> tuple[np.ndarray, int]:
    """A square, pixel-aligned box from the brows to below the chin, ear to ear."""
    left, right = points[:17, 0].min(), points[:17, 0].max()
    top, bottom = points[17:27, 1].min(), points[8, 1]
    side = _CROP_GROWTH * max(right - left, bottom - top)
    centre_x, centre_y = (left + right) / 2, (top + bottom) / 2 + _CROP_DROP * side
    x0, y0 = round(centre_x - side / 2), round(centre_y - side / 2)
    return np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0]]), max(16, round(side))


def _lower_face_mask(
    points: np.ndarray, to_crop: np.ndarray, crop_size: int, face_size: float
) -> np.ndarray:
    """The feathered lower-face polygon in crop pixels.

    Args:
        points: The still's 68 landmarks.
        to_crop: Still to crop pixels.
        crop_size: Side of the crop.
        face_size: The face's size in still pixels.
    """
    polygon = points[_LOWER_FACE].copy()
    chin_direction = points[8] - points[27]
    chin_direction /= max(float(np.linalg.norm(chin_direction)), 1e-6)
    for landmark, weight in _CHIN_WEIGHTS.items():
        polygon[_LOWER_FACE.index(landmark)] += _CHIN_ROOM * weight * face_size * chin_direction
    in_crop = polygon @ to_crop[:, :2].T + to_crop[:, 2]
    mask = np.zeros((crop_size, crop_size), np.float32)
    cv2.fillPoly(mask, [np.round(in_crop * 16).astype(np.int32)], 1.0, cv2.LINE_AA, shift=4)
    feather = max(1.0, _FEATHER * face_size * _scale(to_crop))
    return cv2.GaussianBlur(mask, (0, 0), sigmaX=feather / 2)


def _scale(affine: np.ndarray) -> float:
    """The scale of a similarity transform."""
    return float(np.hypot(affine[0, 0], affine[0, 1]))


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The 2 x 3 affine ``outer(inner(x))``."""
    linear = outer[:, :2] @ inner[:, :2]
    return np.hstack([linear, (outer[:, :2] @ inner[:, 2] + outer[:, 2])[:, np.newaxis]])


def paste(
    frame: np.ndarray, face: np.ndarray, to_crop: np.ndarray, geometry: CropGeometry
) -> np.ndarray:
    """``frame`` with ``face`` (a crop) blended in under the mask; nothing else changes."""
    left, top, right, bottom = geometry.mask_box
    if right <= left or bottom <= top:
        return frame
    to_frame = cv2.invertAffineTransform(to_crop)
    corners = np.array([[left, top], [right, top], [left, bottom], [right, bottom]], np.float64)
    mapped = corners @ to_frame[:, :2].T + to_frame[:, 2]
    height, width = frame.shape[:2]
    x0, y0 = (max(0, int(v)) for v in np.floor(mapped.min(axis=0)) - 1)
    x1 = min(width, int(np.ceil(mapped[:, 0].max())) + 2)
    y1 = min(height, int(np.ceil(mapped[:, 1].max())) + 2)
    if x1 <= x0 or y1 <= y0:
        return frame
    shifted = to_frame.copy()
    shifted[:, 2] -= (x0, y0)
    size = (x1 - x0, y1 - y0)
    warped = cv2.warpAffine(face, shifted, size, flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(geometry.mask, shifted, size, flags=cv2.INTER_LINEAR)[..., np.newaxis]
    out = frame.copy()
    patch = out[y0:y1, x0:x1].astype(np.float32)
    blended = patch + mask * (warped.astype(np.float32) - patch)
    out[y0:y1, x0:x1] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return out
