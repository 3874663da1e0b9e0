"""The face rig: mesh vertices, their triangulation, and how a pose moves them.

The mesh has the 68 landmarks, one extra vertex in the middle of each eye (it
carries the gaze) and fixed points on the border of the region that moves
(lower face plus eyes). The border points never move, so a warp of the mesh
joins the untouched photo without a seam. Movements are expressed along the
face's own axes (eye line and its normal), so a tilted head opens its mouth
along its own vertical.
"""

from __future__ import annotations

import cv2
import numpy as np

from avatar_animator.lips import closed_lip_seam, inner_lip_midpoints
from avatar_animator.motion import FramePose
from avatar_animator.visemes import MouthShape

BROWS = tuple(range(17, 27))
# Highest brow lift (brow_raise 1), in face sizes.
BROW_LIFT = 0.03
LEFT_EYE = tuple(range(36, 42))
RIGHT_EYE = tuple(range(42, 48))
# (upper lid, lower lid) landmark pairs that meet when the eye shuts.
EYELID_PAIRS = (((37, 41), (38, 40)), ((43, 47), (44, 46)))
MOUTH = tuple(range(48, 68))
INNER_LIP = tuple(range(60, 68))
OUTER_UPPER_LIP = (49, 50, 51, 52, 53)
OUTER_LOWER_LIP = (55, 56, 57, 58, 59)
LIP_CORNERS = (48, 54, 60, 64)
# (upper inner, lower inner) pairs facing each other across the mouth opening.
INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))
LEFT_EYE_CENTRE, RIGHT_EYE_CENTRE = 68, 69
# Vertices 70-77 lie on the inner lip edge between neighbouring inner-lip landmarks.
LIP_MIDPOINTS = tuple(range(70, 78))
# Inner contour in order: landmarks and midpoints interleaved (60, 70, 61, 71, ...).
INNER_CONTOUR = tuple(
    vertex for pair in zip(INNER_LIP, LIP_MIDPOINTS, strict=True) for vertex in pair
)
# (upper, lower) midpoint pairs facing each other across the opening.
MIDPOINT_PAIRS = ((70, 77), (71, 76), (72, 75), (73, 74))
# Every facing pair from left to right: each closes on its own, so a closed pose
# shuts a curved smile along its whole length, corners included.
FACING_PAIRS = ((70, 77), (61, 67), (71, 76), (62, 66), (72, 75), (63, 65), (73, 74))
# Vertices 78-81 sit on the lid creases above 37, 38, 43 and 44 (towards brows 19, 20,
# 23, 24): the lid slides down as a fold instead of stretching its lashes.
LID_CREASES = ((78, 37, 19), (79, 38, 20), (80, 43, 23), (81, 44, 24))
# Vertices 82-83 are fixed anchors on the cheeks, between each lower lid and mouth corner:
# without them a triangle from eye to mouth would drag the lower lid as the mouth moves.
CHEEK_ANCHORS = ((82, (40, 41), 48), (83, (46, 47), 54))
# Each midpoint moves as a blend of its two landmarks; next to a corner it follows the
# inner landmark more, which rounds the opening into a U rather than a V.
_MIDPOINT_WEIGHTS = np.zeros((8, 8))
for _index in range(8):
    _corner_first, _corner_second = _index in (0, 4), _index in (3, 7)
    _MIDPOINT_WEIGHTS[_index, _index] = 0.2 if _corner_first else 0.8 if _corner_second else 0.5
    _MIDPOINT_WEIGHTS[_index, (_index + 1) % 8] = 1.0 - _MIDPOINT_WEIGHTS[_index, _index]
# How far each facing pair opens relative to the centre pair: a lens-shaped opening.
_OPENING_PROFILE = np.array([0.55, 0.95, 0.99, 1.0, 0.99, 0.95, 0.55])
# Positions of the three landmark pairs (INNER_LIP_PAIRS) within FACING_PAIRS.
_LANDMARK_PAIRS = [1, 3, 5]
# Share of the jaw's drop that each jawline landmark (0-16) follows: the chin fully,
# the jaw angles barely, as the jaw rotates about the ears.
JAW_WEIGHTS = np.array(
    [0, 0, 0.05, 0.15, 0.35, 0.6, 0.85, 0.97, 1.0, 0.97, 0.85, 0.6, 0.35, 0.15, 0.05, 0, 0]
)


class FaceRig:
    """Mesh of one face photo and the mapping from a :class:`FramePose` to vertices."""

    def __init__(self, landmarks: np.ndarray, image: np.ndarray) -> None:
        """Builds the mesh and its Delaunay triangulation.

        Args:
            landmarks: The 68 landmarks (x, y) in image pixels.
            image: The photo (RGB uint8); its lip edges place the inner-lip midpoints.
        """
        points = np.asarray(landmarks, dtype=np.float64).reshape(68, 2)
        height, width = image.shape[:2]
        self.face_size = float(max(points.max(axis=0) - points.min(axis=0)))
        self.roi = _region_of_interest(points, self.face_size, width, height)
        x0, y0, x1, y1 = self.roi
        points = np.clip(points, [x0 + 1, y0 + 1], [x1 - 1, y1 - 1])
        self.source = _mesh_vertices(points, image, self.roi)
        eye_centres = self.source[[LEFT_EYE_CENTRE, RIGHT_EYE_CENTRE]]
        points = self.source[:68]
        self.triangles = _triangulate(self.source, self.roi)
        self.orientation = np.sign(_signed_areas(self.source, self.triangles, separated=True))
        axis = eye_centres[1] - eye_centres[0]
        self.axis_x = axis / max(np.linalg.norm(axis), 1e-6)
        self.axis_y = np.array([-self.axis_x[1], self.axis_x[0]])
        self.mouth_width = float(np.linalg.norm(points[54] - points[48]))
        self.eye_width = (
            float(np.linalg.norm(points[39] - points[36]) + np.linalg.norm(points[45] - points[42]))
            / 2
        )
        gaps = [(self.source[low] - self.source[up]) @ self.axis_y for up, low in FACING_PAIRS]
        self.pair_gaps = np.maximum(np.array(gaps), 0.0)
        self.lip_gap = float(self.pair_gaps[_LANDMARK_PAIRS].mean())
        centre = points[[48, 54]].mean(axis=0)
        offsets = (points[list(MOUTH)] - centre) @ self.axis_x
        self._lip_offsets = offsets
        # Where (along the face's horizontal) the facing pairs and the corners sit.
        pairs = (self.source[[up for up, _ in FACING_PAIRS]] - centre) @ self.axis_x
        profile_offsets = np.concatenate([[offsets[0]], pairs, [offsets[6]]])
        self._profile_order = np.argsort(profile_offsets)
        self._profile_offsets = profile_offsets[self._profile_order]
        relative = np.clip(offsets / max(self.mouth_width / 2, 1e-6), -1.0, 1.0)
        self._lip_falloff = 1.0 - 0.35 * relative**2

    def deform(self, pose: FramePose) -> np.ndarray:
        """Vertex positions (V, 2) for a pose, head motion excluded."""
        vertices = self.source.copy()
        self._move_mouth(vertices, pose.mouth)
        self._move_eyes(vertices, pose)
        if pose.brow_raise:
            # The brows lift along the face's vertical; the lid creases below stay,
            # so the skin between them stretches as it does.
            lift = pose.brow_raise * BROW_LIFT * self.face_size
            vertices[list(BROWS)] -= lift * self.axis_y
        return vertices

    def head_matrix(self, pose: FramePose) -> np.ndarray | None:
        """The 2x3 affine of the whole frame for the pose's head motion, or None if still."""
        if not (pose.head_roll_degrees or pose.head_shift_x or pose.head_shift_y):
            return None
        # Rotate about the neck, below the chin, as a head turns on the spine.
        pivot = self.source[8] + 0.25 * self.face_size * self.axis_y
        matrix = cv2.getRotationMatrix2D(
            (float(pivot[0]), float(pivot[1])), pose.head_roll_degrees, 1.0
        )
        matrix[:, 2] += self.face_size * np.array([pose.head_shift_x, pose.head_shift_y])
        return matrix

    def lip_displacements(self, vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean movement of the upper and the lower inner lip from the photo."""
        upper = (vertices[[61, 62, 63]] - self.source[[61, 62, 63]]).mean(axis=0)
        lower = (vertices[[65, 66, 67]] - self.source[[65, 66, 67]]).mean(axis=0)
        return upper, lower

    def _move_mouth(self, vertices: np.ndarray, mouth: MouthShape) -> None:
        """Moves lips and jaw: lips translate as wholes, so they never smear.

        Each facing pair of inner-lip points gets its own gap, so a closed pose
        closes a curved photo smile along its whole length.
        """
        width = self.mouth_width
        targets = mouth.opening * width * _OPENING_PROFILE + mouth.rest * self.pair_gaps
        change = targets - self.pair_gaps
        # Opening is mostly the jaw; closing an open photo mouth moves both lips.
        upper_share = np.where(change >= 0, 0.15, 0.45)
        upper = -upper_share * change - mouth.upper_lip * width
        lower = (1.0 - upper_share) * change
        upper_mean = float(upper[_LANDMARK_PAIRS].mean())
        lower_mean = float(lower[_LANDMARK_PAIRS].mean())
        pucker = max(0.0, -mouth.width) * 0.05 * width * self._lip_falloff
        # The corners sit halfway between the lips, so the opening is an oval.
        corner = 0.5 * (upper_mean + lower_mean)
        vertical = np.zeros(len(MOUTH))
        # Each outer lip point moves as the inner edge facing it: a lip travels as a
        # whole, keeping its thickness in every column.
        for outline, inner, sign in ((OUTER_UPPER_LIP, upper, -1.0), (OUTER_LOWER_LIP, lower, 1.0)):
            rows = [index - 48 for index in outline]
            profile = np.concatenate([[corner], inner, [corner]])[self._profile_order]
            vertical[rows] = np.interp(self._lip_offsets[rows], self._profile_offsets, profile)
            vertical[rows] += sign * pucker[rows]
        vertical[[index - 48 for index in LIP_CORNERS]] = corner
        for pair, (up, low) in zip(_LANDMARK_PAIRS, INNER_LIP_PAIRS, strict=True):
            vertical[up - 48], vertical[low - 48] = upper[pair], lower[pair]
        # A dropping jaw pulls the corners in a little.
        narrowing = 0.3 * max(0.0, lower_mean) / width
        lateral = (mouth.width - narrowing) * self._lip_offsets
        vertices[48:68] += np.outer(lateral, self.axis_x) + np.outer(vertical, self.axis_y)
        # The chin goes down as far as the middle of the lower lip: the lip rides on the jaw.
        jaw = float(lower[len(lower) // 2]) + mouth.lower_lip * width
        vertices[0:17] += np.outer(JAW_WEIGHTS * jaw, self.axis_y)
        # Midpoints slide sideways with their landmarks but open and close as pairs.
        moved = vertices[list(INNER_LIP)] - self.source[list(INNER_LIP)]
        sideways = (_MIDPOINT_WEIGHTS @ moved) @ self.axis_x
        for pair, (up, low) in enumerate(FACING_PAIRS):
            if up >= LIP_MIDPOINTS[0]:
                vertices[up] += sideways[up - 70] * self.axis_x + upper[pair] * self.axis_y
                vertices[low] += sideways[low - 70] * self.axis_x + lower[pair] * self.axis_y

    def _move_eyes(self, vertices: np.ndarray, pose: FramePose) -> None:
        """Closes the lids towards a line near the lower lid and shifts the irises."""
        blink = min(max(pose.blink, 0.0), 1.0)
        gaze = self.eye_width * (
            0.10 * pose.gaze_x * self.axis_x + 0.06 * pose.gaze_y * self.axis_y
        )
        for pairs, centre in zip(EYELID_PAIRS, (LEFT_EYE_CENTRE, RIGHT_EYE_CENTRE), strict=True):
            meets = []
            for upper, lower in pairs:
                # Lids meet near the lower lid: the upper lid does most of a blink.
                meet = self.source[lower] + 0.2 * (self.source[upper] - self.source[lower])
                vertices[upper] += blink * (meet - self.source[upper])
                vertices[lower] += blink * (meet - self.source[lower])
                meets.append(meet)
            meet_centre = np.mean(meets, axis=0)
            vertices[centre] += (1.0 - blink) * gaze + blink * (meet_centre - self.source[centre])
        for crease, lid, _ in LID_CREASES:
            vertices[crease] += 0.6 * (vertices[lid] - self.source[lid])


def _mesh_vertices(
    points: np.ndarray, image: np.ndarray, roi: tuple[int, int, int, int]
) -> np.ndarray:
    """All mesh vertices (V, 2) in index order: landmarks, eye centres, lip midpoints,
    lid creases, cheek anchors, border points."""
    points = closed_lip_seam(image, points)
    # dlib's inner lip corners sit inside the dark corners of an open mouth; moved
    # most of the way to the outer corners, the opening's mesh holds all of the dark.
    points[60] += 0.75 * (points[48] - points[60])
    points[64] += 0.75 * (points[54] - points[64])
    eye_centres = np.stack([points[list(LEFT_EYE)].mean(0), points[list(RIGHT_EYE)].mean(0)])
    creases = [points[lid] + 0.4 * (points[brow] - points[lid]) for _, lid, brow in LID_CREASES]
    cheeks = [
        points[list(lid)].mean(0) + 0.35 * (points[corner] - points[list(lid)].mean(0))
        for _, lid, corner in CHEEK_ANCHORS
    ]
    return np.vstack(
        [
            points,
            eye_centres,
            inner_lip_midpoints(image, points),
            np.array(creases),
            np.array(cheeks),
            _border_points(roi),
        ]
    )


def _region_of_interest(
    points: np.ndarray, face_size: float, width: int, height: int
) -> tuple[int, int, int, int]:
    """The box (x0, y0, x1, y1) that may move: eyes to below the chin, with room for the jaw."""
    low, high = points.min(axis=0), points.max(axis=0)
    brows = points[17:27, 1].min()
    x0 = max(0, int(low[0] - 0.12 * face_size))
    x1 = min(width - 1, int(np.ceil(high[0] + 0.12 * face_size)))
    y0 = max(0, int(brows - 0.12 * face_size))
    y1 = min(height - 1, int(np.ceil(high[1] + 0.45 * face_size)))
    return x0, y0, x1, y1


def _border_points(roi: tuple[int, int, int, int]) -> np.ndarray:
    """Fixed points around the region's border: corners and three per side."""
    x0, y0, x1, y1 = roi
    steps = np.linspace(0.0, 1.0, 5)[:-1]
    xs, ys = x0 + steps * (x1 - x0), y0 + steps * (y1 - y0)
    top = np.stack([xs, np.full_like(xs, y0)], axis=1)
    right = np.stack([np.full_like(ys, x1), ys], axis=1)
    bottom = np.stack([x1 - steps * (x1 - x0), np.full_like(xs, y1)], axis=1)
    left = np.stack([np.full_like(ys, x0), y1 - steps * (y1 - y0)], axis=1)
    return np.vstack([top, right, bottom, left])


def _separated(points: np.ndarray) -> np.ndarray:
    """A copy with inner-lip pairs aligned, at least 2 px apart, and no coincident points.

    A closed mouth puts upper and lower inner lip landmarks on top of each other;
    Delaunay needs distinct points, and the triangles between them are the ones
    that open with the mouth.
    """
    points = points.copy()
    for upper, lower in INNER_LIP_PAIRS + MIDPOINT_PAIRS:
        # Facing points one above the other, 2 px apart: a lip triangle then never
        # reaches across the seam to the other lip's vertex.
        points[upper, 0] = points[lower, 0] = (points[upper, 0] + points[lower, 0]) / 2
        if points[lower, 1] - points[upper, 1] < 2.0:
            middle = (points[lower, 1] + points[upper, 1]) / 2
            points[upper, 1], points[lower, 1] = middle - 1.0, middle + 1.0
    for index in range(1, len(points)):
        while np.min(np.abs(points[:index] - points[index]).sum(axis=1)) < 0.25:
            points[index] += (0.3, 0.4)
    return points


def _triangulate(points: np.ndarray, roi: tuple[int, int, int, int]) -> np.ndarray:
    """Delaunay triangles (T, 3) of vertex indices."""
    separated = _separated(points)
    x0, y0, x1, y1 = roi
    subdivision = cv2.Subdiv2D((x0 - 2, y0 - 2, x1 - x0 + 5, y1 - y0 + 5))
    for x, y in separated.astype(np.float32):
        subdivision.insert((float(x), float(y)))
    corners = subdivision.getTriangleList().reshape(-1, 3, 2)
    inserted = separated.astype(np.float32)
    distances = np.abs(corners[:, :, None, :] - inserted[None, None, :, :]).sum(axis=3)
    nearest = distances.argmin(axis=2)
    exact = np.take_along_axis(distances, nearest[:, :, None], axis=2)[:, :, 0] < 1e-3
    found = nearest[exact.all(axis=1)].astype(np.int32)
    return _untangle_lips(found, separated)


# Vertices of each lip: its outer edge, and its inner edge (landmarks and midpoints).
_OUTER_UPPER = frozenset(OUTER_UPPER_LIP)
_OUTER_LOWER = frozenset(OUTER_LOWER_LIP)
_UPPER_LIP = _OUTER_UPPER | {61, 62, 63, 70, 71, 72, 73}
_LOWER_LIP = _OUTER_LOWER | {65, 66, 67, 74, 75, 76, 77}


def _crosses_lips(first: int, second: int) -> bool:
    """Whether an edge joins one lip's outer edge to the other lip (tearing both apart
    when the mouth opens; edges between the inner edges are the opening's own)."""
    pair = {first, second}
    return bool(
        (pair & _OUTER_UPPER and pair & _LOWER_LIP) or (pair & _OUTER_LOWER and pair & _UPPER_LIP)
    )


def _untangle_lips(triangles: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Flips Delaunay edges that cross from one lip's outer edge to the other lip.

    Thin, closed lips make Delaunay join, say, the upper lip's outer edge to the
    lower lip's inner edge; such a triangle would stretch across both lips as the
    mouth opens. Each such edge is replaced by the other diagonal of the two
    triangles that share it, when that quadrilateral is convex.
    """
    result = [tuple(int(v) for v in triangle) for triangle in triangles]
    for _ in range(4 * len(result)):
        edge = next(
            (
                (a, b)
                for triangle in result
                for a, b in (
                    (triangle[0], triangle[1]),
                    (triangle[1], triangle[2]),
                    (triangle[2], triangle[0]),
                )
                if _crosses_lips(a, b)
            ),
            None,
        )
        if edge is None or not _flip(result, edge, points):
            break
    return np.array(result, dtype=np.int32)


def _flip(triangles: list[tuple[int, ...]], edge: tuple[int, int], points: np.ndarray) -> bool:
    """Replaces the edge shared by two triangles with their other diagonal, in place."""
    a, b = edge
    sharing = [index for index, t in enumerate(triangles) if a in t and b in t]
    if len(sharing) != 2:
        return False
    c, d = (next(v for v in triangles[index] if v not in edge) for index in sharing)
    if not (_segments_cross(points, a, b, c, d) and _segments_cross(points, c, d, a, b)):
        return False
    first, second = sharing
    triangles[first], triangles[second] = (a, c, d), (b, c, d)
    return True


def _segments_cross(points: np.ndarray, a: int, b: int, c: int, d: int) -> bool:
    """Whether c and d lie on opposite sides of the line through a and b."""
    direction = points[b] - points[a]
    side_c = direction[0] * (points[c, 1] - points[a, 1]) - direction[1] * (
        points[c, 0] - points[a, 0]
    )
    side_d = direction[0] * (points[d, 1] - points[a, 1]) - direction[1] * (
        points[d, 0] - points[a, 0]
    )
    return bool(side_c * side_d < 0)


def _signed_areas(
    points: np.ndarray, triangles: np.ndarray, *, separated: bool = False
) -> np.ndarray:
    """Twice the signed area of each triangle."""
    vertices = _separated(points) if separated else points
    a, b, c = (vertices[triangles[:, k]] for k in range(3))
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
