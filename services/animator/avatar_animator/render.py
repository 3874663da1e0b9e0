"""Frame rendering: a piecewise-affine warp of the photo, a mouth interior, head motion.

:class:`FaceWarper` holds everything that depends only on the photo (the rig's
triangulation, the mouth painter's colours and teeth) and renders any pose from
it. Per frame it touches only the box covered by triangles that move: each
destination triangle is rasterised into an index map, every pixel is mapped back
to the photo with its triangle's affine, and one ``cv2.remap`` samples the photo.
An idle frame with open eyes costs a copy of the photo.
"""

from __future__ import annotations

import cv2
import numpy as np

from avatar_animator.eyes import EyelidPainter
from avatar_animator.motion import FramePose
from avatar_animator.mouth import MouthPainter
from avatar_animator.rig import FaceRig

# Vertex moves below this (pixels) count as still.
_STILL_PIXELS = 0.01
# Destination triangles with less area (pixels^2, doubled) are collapsed (closed lips):
# skipped, their pixels then take a neighbouring triangle (see _fill_cracks).
_MIN_AREA = 2.0
# Fixed-point bits for sub-pixel triangle rasterisation.
_SHIFT = 4


class FaceWarper:
    """Renders frames of one prepared photo; safe to share between threads."""

    def __init__(self, image: np.ndarray, landmarks: np.ndarray) -> None:
        """Precomputes the mesh and mouth data of a photo.

        Args:
            image: The still output frame, (height, width, 3) uint8 RGB.
            landmarks: Its 68 landmarks in pixels.
        """
        self._image = image
        self.rig = FaceRig(landmarks, image)
        self._mouth = MouthPainter(image, self.rig)
        self._eyelids = EyelidPainter(image, self.rig)

    @property
    def mouth(self) -> MouthPainter:
        """The mouth painter: what it measured of the photo (teeth shown, softness, grain)."""
        return self._mouth

    @property
    def size(self) -> tuple[int, int]:
        """Frame (width, height)."""
        return int(self._image.shape[1]), int(self._image.shape[0])

    def render(self, pose: FramePose) -> np.ndarray:
        """Renders one frame.

        Args:
            pose: What moves in the frame.

        Returns:
            A new (height, width, 3) uint8 RGB frame.
        """
        vertices = self.rig.deform(pose)
        frame = self._warp(vertices)
        self._mouth.paint(frame, vertices, pose.mouth.tongue)
        self._eyelids.paint(frame, pose.blink)
        matrix = self.rig.head_matrix(pose)
        if matrix is not None:
            frame = cv2.warpAffine(
                frame,
                matrix,
                self.size,
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REFLECT101,
            )
        return frame

    def _warp(self, vertices: np.ndarray) -> np.ndarray:
        """The photo with the moving triangles warped to ``vertices``."""
        frame = self._image.copy()
        source, triangles = self.rig.source, self.rig.triangles
        moved = np.abs(vertices - source).max(axis=1) > _STILL_PIXELS
        moving = triangles[moved[triangles].any(axis=1)]
        if not len(moving):
            return frame
        destination = vertices[moving]
        corners = np.vstack([destination.reshape(-1, 2), source[moving].reshape(-1, 2)])
        x0, y0, x1, y1 = self.rig.roi
        left = max(x0, int(np.floor(corners[:, 0].min())) - 1)
        top = max(y0, int(np.floor(corners[:, 1].min())) - 1)
        right = min(x1, int(np.ceil(corners[:, 0].max())) + 1)
        bottom = min(y1, int(np.ceil(corners[:, 1].max())) + 1)
        areas = _doubled_areas(destination)
        orientation = self.rig.orientation[moved[triangles].any(axis=1)]
        keep = areas * orientation > _MIN_AREA
        if not keep.any():
            return frame
        destination, moving = destination[keep], moving[keep]
        coefficients = _inverse_affines(destination, source[moving])
        index_map = np.zeros((bottom - top + 1, right - left + 1), dtype=np.int32)
        offset = np.array([left, top])
        fixed = np.round((destination - offset) * (1 << _SHIFT)).astype(np.int32)
        for number, polygon in enumerate(fixed, start=1):
            cv2.fillConvexPoly(index_map, polygon, number, cv2.LINE_8, _SHIFT)
        _fill_cracks(index_map)
        grid_x, grid_y = np.meshgrid(
            np.arange(left, right + 1, dtype=np.float32),
            np.arange(top, bottom + 1, dtype=np.float32),
        )
        per_pixel = coefficients[index_map]
        map_x = per_pixel[..., 0] * grid_x + per_pixel[..., 1] * grid_y + per_pixel[..., 2]
        map_y = per_pixel[..., 3] * grid_x + per_pixel[..., 4] * grid_y + per_pixel[..., 5]
        frame[top : bottom + 1, left : right + 1] = cv2.remap(
            self._image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        return frame


def _fill_cracks(index_map: np.ndarray) -> None:
    """Gives pixels that no triangle covered, between two that are, a neighbour's triangle.

    Rasterised separately, two triangles sharing an exactly vertical or horizontal
    edge can both miss the pixels on it; left at the identity map, such a crack
    would show the unmoved photo as a thin line through a moving lip.
    """
    empty = index_map[:, 1:-1] == 0
    left, right = index_map[:, :-2], index_map[:, 2:]
    crack = empty & (left > 0) & (right > 0)
    index_map[:, 1:-1][crack] = left[crack]
    empty = index_map[1:-1, :] == 0
    above, below = index_map[:-2, :], index_map[2:, :]
    crack = empty & (above > 0) & (below > 0)
    index_map[1:-1, :][crack] = above[crack]


def _doubled_areas(triangles: np.ndarray) -> np.ndarray:
    """Twice the signed area of each triangle in a (T, 3, 2) array."""
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


def _inverse_affines(destination: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Per-triangle affines from destination to source pixels, as a lookup table.

    Returns:
        Array (T + 1, 6) float32; row 0 is the identity (pixels no triangle
        covers stay where they are), row k + 1 maps triangle k:
        ``x_src = a*x + b*y + c``, ``y_src = d*x + e*y + f``.
    """
    homogeneous = np.concatenate([destination, np.ones((*destination.shape[:2], 1))], axis=2)
    solved = np.linalg.solve(homogeneous, source)  # (T, 3, 2): columns for x_src, y_src
    table = np.empty((len(destination) + 1, 6), dtype=np.float32)
    table[0] = (1, 0, 0, 0, 1, 0)
    table[1:, 0:3] = solved[:, :, 0]
    table[1:, 3:6] = solved[:, :, 1]
    return table
