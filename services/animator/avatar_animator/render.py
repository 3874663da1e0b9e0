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
        # Pixel coordinates of the whole frame, sliced per frame for the warp's maps.
        height, width = image.shape[:2]
        self._grid_x, self._grid_y = np.meshgrid(
            np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)
        )

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
        self._mouth.paint(frame, vertices, pose.mouth)
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
        moving_mask = moved[triangles].any(axis=1)
        if not moving_mask.any():
            return frame
        moving = triangles[moving_mask]
        destination = vertices[moving]
        keep = _doubled_areas(destination) * self.rig.orientation[moving_mask] > _MIN_AREA
        if not keep.any():
            return frame
        # The box covers the moving triangles where they are and where they were.
        corners = np.concatenate([destination.reshape(-1, 2), source[moving].reshape(-1, 2)])
        low, high = corners.min(axis=0), corners.max(axis=0)
        x0, y0, x1, y1 = self.rig.roi
        left, top = max(x0, int(low[0]) - 1), max(y0, int(low[1]) - 1)
        right, bottom = min(x1, int(high[0]) + 2), min(y1, int(high[1]) + 2)
        destination, moving = destination[keep], moving[keep]
        table = _inverse_affines(destination, source[moving])
        map_x, map_y = self._maps(destination, table, (left, top, right, bottom))
        cv2.remap(
            self._image,
            map_x,
            map_y,
            cv2.INTER_LINEAR,
            dst=frame[top : bottom + 1, left : right + 1],
            borderMode=cv2.BORDER_REPLICATE,
        )
        return frame

    def _maps(
        self, destination: np.ndarray, table: np.ndarray, box: tuple[int, int, int, int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-pixel source coordinates of a box, from its triangles and their affines.

        Each destination triangle is rasterised into an index map; the maps are
        ``a*x + b*y + c`` with each pixel's triangle's coefficients, looked up per
        pixel (``cv2.LUT`` while the triangles fit in 8 bits).
        """
        left, top, right, bottom = box
        shape = (bottom - top + 1, right - left + 1)
        small = len(table) <= 256
        index_map = np.zeros(shape, dtype=np.uint8 if small else np.int32)
        fixed = np.round((destination - (left, top)) * (1 << _SHIFT)).astype(np.int32)
        for number, polygon in enumerate(fixed, start=1):
            cv2.fillConvexPoly(index_map, polygon, number, cv2.LINE_8, _SHIFT)
        _fill_cracks(index_map)
        grid_x = self._grid_x[top : bottom + 1, left : right + 1]
        grid_y = self._grid_y[top : bottom + 1, left : right + 1]
        if small:
            padded = np.zeros((6, 256), dtype=np.float32)
            padded[:, : len(table)] = table.T
            a, b, c, d, e, f = (cv2.LUT(index_map, row) for row in padded)
        else:
            a, b, c, d, e, f = (np.take(table[:, k], index_map) for k in range(6))
        map_x = cv2.add(cv2.add(cv2.multiply(a, grid_x), cv2.multiply(b, grid_y)), c)
        map_y = cv2.add(cv2.add(cv2.multiply(d, grid_x), cv2.multiply(e, grid_y)), f)
        return map_x, map_y


def _fill_cracks(index_map: np.ndarray) -> None:
    """Gives pixels that no triangle covered, between two that are, a neighbour's triangle.

    Rasterised separately, two triangles sharing an exactly vertical or horizontal
    edge can both miss the pixels on it; left at the identity map, such a crack
    would show the unmoved photo as a thin line through a moving lip.
    """
    empty = index_map[:, 1:-1] == 0
    left, right = index_map[:, :-2], index_map[:, 2:]
    crack = empty & (left > 0) & (right > 0)
    np.copyto(index_map[:, 1:-1], left, where=crack)
    empty = index_map[1:-1, :] == 0
    above, below = index_map[:-2, :], index_map[2:, :]
    crack = empty & (above > 0) & (below > 0)
    np.copyto(index_map[1:-1, :], above, where=crack)


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
    # With edges E (destination) and F (source) from each first corner, the linear
    # part is F E^-1; the 2x2 inverses are written out, vectorised over triangles.
    e1, e2 = destination[:, 1] - destination[:, 0], destination[:, 2] - destination[:, 0]
    f1, f2 = source[:, 1] - source[:, 0], source[:, 2] - source[:, 0]
    determinant = e1[:, 0] * e2[:, 1] - e2[:, 0] * e1[:, 1]
    determinant = np.where(np.abs(determinant) < 1e-9, 1e-9, determinant)
    inverse = np.stack([e2[:, 1], -e2[:, 0], -e1[:, 1], e1[:, 0]], axis=1) / determinant[:, None]
    # Rows of E^-1: (inverse[:, 0], inverse[:, 1]) and (inverse[:, 2], inverse[:, 3]).
    linear = np.empty((len(destination), 2, 2))
    for row in range(2):
        linear[:, row, 0] = f1[:, row] * inverse[:, 0] + f2[:, row] * inverse[:, 2]
        linear[:, row, 1] = f1[:, row] * inverse[:, 1] + f2[:, row] * inverse[:, 3]
    shift = source[:, 0] - np.einsum("tij,tj->ti", linear, destination[:, 0])
    table = np.empty((len(destination) + 1, 6), dtype=np.float32)
    table[0] = (1, 0, 0, 0, 1, 0)
    table[1:, 0:2], table[1:, 2] = linear[:, 0], shift[:, 0]
    table[1:, 3:5], table[1:, 5] = linear[:, 1], shift[:, 1]
    return table
