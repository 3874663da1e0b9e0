"""Face preparation: find the face, its 68 landmarks, and crop the output frame.

Preparation is the expensive, once-per-photo step (face detection, landmark
fitting, triangulation, masks). :class:`FacePreparer` keeps the results in a
bounded LRU cache keyed by the SHA-256 of the photo bytes, so a second request
with the same photo does no detection at all.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from avatar_animator.errors import (
    AnimatorError,
    AppearanceMismatchError,
    FaceTooSmallError,
    NoFaceError,
)
from avatar_animator.render import FaceWarper
from avatar_core.images import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, decode_image
from avatar_core.touchup import RegionTouchup

MIN_FACE_PIXELS = 64
"""Smallest accepted face width in the photo, in pixels."""

_PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
# Detection runs on a copy whose longest side is at most this: HOG detection cost grows
# with the area, and faces worth animating stay well above the detector's minimum here.
_MAX_DETECTION_SIDE = 1024


def default_predictor_path() -> Path:
    """Locates dlib's 68-point shape predictor inside the ``face_recognition_models`` wheel.

    The package's ``__init__`` imports ``pkg_resources`` (absent from modern
    setuptools), so it is located with ``find_spec`` without being imported.

    Raises:
        AnimatorError: The package or the model file is not installed.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / "models" / _PREDICTOR_FILE
        if candidate.is_file():
            return candidate
    raise AnimatorError(f"{_PREDICTOR_FILE} not found: install the face-recognition-models package")


@dataclass(frozen=True, slots=True)
class FaceDetection:
    """One detected face in photo pixels.

    Attributes:
        landmarks: Array (68, 2) float32, iBUG 300-W order, (x, y).
        width: Width of the detector's face box.
        height: Height of the detector's face box.
    """

    landmarks: np.ndarray
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class _DlibModels:
    """dlib's detector and landmark predictor, and the lock that serialises their use."""

    detector: object
    predictor: object
    lock: threading.Lock


@functools.lru_cache(maxsize=4)
def _load_models(predictor_path: Path) -> _DlibModels:
    """Loads the models once per process and file (the predictor is ~100 MB)."""
    import dlib

    return _DlibModels(
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(str(predictor_path)),
        threading.Lock(),
    )


class LandmarkDetector:
    """dlib's HOG face detector plus the 68-point landmark predictor (loaded lazily)."""

    def __init__(self, predictor_path: Path | None = None) -> None:
        """Creates the detector; the models load on first use or :meth:`load`.

        Args:
            predictor_path: The ``shape_predictor_68_face_landmarks.dat`` file;
                by default the one inside ``face_recognition_models``.
        """
        self._predictor_path = predictor_path
        self._models: _DlibModels | None = None

    def load(self) -> None:
        """Loads both models now (about a second), so the first request does not wait."""
        if self._models is None:
            self._models = _load_models(self._predictor_path or default_predictor_path())

    def detect(self, rgb: np.ndarray) -> list[FaceDetection]:
        """Finds every frontal face and fits its landmarks, largest face first.

        Args:
            rgb: The photo, (height, width, 3) uint8.
        """
        import dlib

        self.load()
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        scale = min(1.0, _MAX_DETECTION_SIDE / max(gray.shape))
        small = (
            gray
            if scale == 1.0
            else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        )
        models = self._models
        # dlib objects are not documented as thread-safe; detection is rare (cached).
        with models.lock:
            rectangles = list(models.detector(small, 0))
            if not rectangles:
                # One upsampling finds faces down to ~40 px, at four times the cost.
                rectangles = list(models.detector(small, 1))
            detections = []
            for rect in rectangles:
                full = dlib.rectangle(
                    round(rect.left() / scale),
                    round(rect.top() / scale),
                    round(rect.right() / scale),
                    round(rect.bottom() / scale),
                )
                shape = models.predictor(gray, full)
                points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
                detections.append(FaceDetection(points, float(full.width()), float(full.height())))
        detections.sort(key=lambda face: face.width * face.height, reverse=True)
        return detections


@dataclass(frozen=True, eq=False, slots=True)
class PreparedFace:
    """A photo ready to animate: the output-sized crop, its landmarks and renderer.

    Attributes:
        content_hash: Hex SHA-256 of the photo bytes.
        image: The still output frame, (height, width, 3) uint8 RGB, read-only.
        landmarks: Array (68, 2) float32, landmarks in output-frame pixels.
        faces_found: How many faces the photo had (the largest is used).
        warnings: Notes for the user, e.g. several faces.
        warper: The per-photo renderer (triangulation, masks), shared by every animation.
    """

    content_hash: str
    image: np.ndarray
    landmarks: np.ndarray
    faces_found: int
    warnings: tuple[str, ...]
    warper: FaceWarper

    @property
    def width(self) -> int:
        """Output frame width in pixels."""
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        """Output frame height in pixels."""
        return int(self.image.shape[0])


def crop_box(
    image_size: tuple[int, int],
    landmarks: np.ndarray,
    output_size: tuple[int, int],
    crop_scale: float,
) -> tuple[int, int, int, int]:
    """Chooses the crop (x, y, width, height) around a face with the output's aspect.

    The crop is ``crop_scale`` face sizes tall, centred a little below the face so
    some shoulders show, shifted to stay inside the photo and shrunk when the
    photo is too small. A crop within 10% of the photo's size takes all of it,
    to avoid a needless resampling.

    Args:
        image_size: Photo (width, height).
        landmarks: The face's 68 landmarks in photo pixels.
        output_size: Output (width, height).
        crop_scale: Crop height in face sizes.
    """
    image_width, image_height = image_size
    aspect = output_size[0] / output_size[1]
    low, high = landmarks.min(axis=0), landmarks.max(axis=0)
    face_size = float(max(high - low))
    centre_x = float(low[0] + high[0]) / 2
    centre_y = float(low[1] + high[1]) / 2 + 0.1 * face_size
    height = crop_scale * face_size
    width = height * aspect
    # Below 1 the crop must shrink to fit; just above 1 it grows to the whole photo.
    fit = min(image_width / width, image_height / height)
    if fit < 1.0 / 0.9:
        width, height = width * fit, height * fit
    width_px = max(1, min(image_width, round(width)))
    height_px = max(1, min(image_height, round(height)))
    left = int(np.clip(round(centre_x - width_px / 2), 0, image_width - width_px))
    top = int(np.clip(round(centre_y - height_px / 2), 0, image_height - height_px))
    return left, top, width_px, height_px


class FacePreparer:
    """Prepares photos for animation and caches the results by content hash."""

    def __init__(
        self,
        *,
        output_width: int = 512,
        output_height: int = 512,
        crop_scale: float = 3.0,
        cache_size: int = 32,
        max_image_bytes: int = DEFAULT_MAX_BYTES,
        max_image_pixels: int = DEFAULT_MAX_PIXELS,
        detector: LandmarkDetector | None = None,
    ) -> None:
        """Creates a preparer.

        Args:
            output_width: Width of the frames to render.
            output_height: Height of the frames to render.
            crop_scale: Output frame height in face sizes (3 shows head and shoulders).
            cache_size: Most prepared faces kept (least recently used go first).
            max_image_bytes: Largest accepted photo file.
            max_image_pixels: Largest accepted photo area.
            detector: Landmark detector; a new one by default.
        """
        if output_width < 64 or output_height < 64:
            raise ValueError(
                f"output size must be at least 64x64, got {output_width}x{output_height}"
            )
        if crop_scale <= 1.0:
            raise ValueError(f"crop_scale must be above 1, got {crop_scale}")
        self.output_size = (output_width, output_height)
        self._crop_scale = crop_scale
        self._max_image_bytes = max_image_bytes
        self._max_image_pixels = max_image_pixels
        self._detector = detector or LandmarkDetector()
        self._cache: OrderedDict[str, PreparedFace] = OrderedDict()
        self._cache_size = max(1, cache_size)
        self._lock = threading.Lock()

    @staticmethod
    def content_hash(image_bytes: bytes) -> str:
        """Returns the hex SHA-256 that names a photo."""
        return hashlib.sha256(image_bytes).hexdigest()

    def warm_up(self) -> None:
        """Loads the detection models now."""
        self._detector.load()

    @property
    def cache_length(self) -> int:
        """Prepared faces in the cache now."""
        with self._lock:
            return len(self._cache)

    def cached(self, content_hash: str) -> PreparedFace | None:
        """Returns the prepared face with this hash when cached, else None."""
        with self._lock:
            face = self._cache.get(content_hash)
            if face is not None:
                self._cache.move_to_end(content_hash)
            return face

    def prepare(self, image_bytes: bytes) -> tuple[PreparedFace, bool]:
        """Prepares a photo, or returns it from the cache.

        Args:
            image_bytes: The photo file (JPEG, PNG, ...).

        Returns:
            The prepared face and whether it came from the cache.

        Raises:
            InvalidImageError: The bytes are not an acceptable image.
            NoFaceError: No face found.
            FaceTooSmallError: The largest face is under 64 pixels wide.
        """
        content_hash = self.content_hash(image_bytes)
        face = self.cached(content_hash)
        if face is not None:
            return face, True
        rgb = decode_image(
            image_bytes, max_bytes=self._max_image_bytes, max_pixels=self._max_image_pixels
        )
        face = self._prepare_decoded(rgb, content_hash)
        with self._lock:
            self._cache[content_hash] = face
            self._cache.move_to_end(content_hash)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return face, False

    def with_appearance(
        self,
        face: PreparedFace,
        image_bytes: bytes | None,
        touchup: RegionTouchup | None = None,
    ) -> tuple[PreparedFace, bool]:
        """The prepared face drawn from another still of the same framing (e.g. the still
        enhanced once), its regions touched up once when asked; its landmarks stay the
        prepared face's. Cached.

        Args:
            face: The prepared face.
            image_bytes: The still to draw from; None keeps the face's own.
            touchup: Touches up the still's regions (high quality's moving parts), so
                the frames drawn from it need no touch-up of their own.

        Returns:
            The drawn face and whether it came from the cache.

        Raises:
            InvalidImageError: The bytes are not an acceptable image.
            AppearanceMismatchError: The still's size is not the prepared still's.
        """
        parts = [face.content_hash]
        if image_bytes is not None:
            parts.append(self.content_hash(image_bytes))
        if touchup is not None:
            parts.append(touchup.key)
        key = "+".join(parts)
        cached = self.cached(key)
        if cached is not None:
            return cached, True
        rgb = face.image
        if image_bytes is not None:
            rgb = decode_image(
                image_bytes, max_bytes=self._max_image_bytes, max_pixels=self._max_image_pixels
            )
            if rgb.shape != face.image.shape:
                raise AppearanceMismatchError(
                    f"the appearance still is {rgb.shape[1]}x{rgb.shape[0]} px; it must be the "
                    f"prepared still's size, {face.width}x{face.height}"
                )
        if touchup is not None:
            rgb = touchup.apply(rgb)  # a copy when it is the face's own (read-only) still
        rgb.setflags(write=False)
        drawn = PreparedFace(
            content_hash=face.content_hash,
            image=rgb,
            landmarks=face.landmarks,
            faces_found=face.faces_found,
            warnings=face.warnings,
            warper=FaceWarper(rgb, face.landmarks),
        )
        with self._lock:
            self._cache[key] = drawn
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return drawn, False

    def _prepare_decoded(self, rgb: np.ndarray, content_hash: str) -> PreparedFace:
        """Detects, checks and crops the largest face, then builds its renderer."""
        detections = self._detector.detect(rgb)
        if not detections:
            raise NoFaceError("no face found in the photo; use a clear, frontal face photo")
        face = detections[0]
        if face.width < MIN_FACE_PIXELS:
            raise FaceTooSmallError(
                f"the face is {face.width:.0f} px wide; at least {MIN_FACE_PIXELS} px is needed"
            )
        warnings = []
        if len(detections) > 1:
            warnings.append(f"{len(detections)} faces found; the largest is used")
        left, top, width, height = crop_box(
            (rgb.shape[1], rgb.shape[0]), face.landmarks, self.output_size, self._crop_scale
        )
        out_width, out_height = self.output_size
        crop = rgb[top : top + height, left : left + width]
        zoom = out_width / width
        if zoom > 2.0:
            warnings.append(
                f"the face is small ({face.width:.0f} px); the video is upscaled {zoom:.1f}x "
                "and will look soft"
            )
        interpolation = cv2.INTER_AREA if zoom < 1.0 else cv2.INTER_CUBIC
        image = cv2.resize(crop, (out_width, out_height), interpolation=interpolation)
        image.setflags(write=False)
        scale = np.array([out_width / width, out_height / height], dtype=np.float32)
        landmarks = (face.landmarks - np.array([left, top], dtype=np.float32)) * scale
        return PreparedFace(
            content_hash=content_hash,
            image=image,
            landmarks=landmarks.astype(np.float32),
            faces_found=len(detections),
            warnings=tuple(warnings),
            warper=FaceWarper(image, landmarks),
        )
