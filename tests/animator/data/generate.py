"""Makes the extra test faces of the animator from public-domain photos (see README.md).

Usage: python tests/animator/data/generate.py

* ``hopper_closed.jpg``: Grace Hopper's official US Navy portrait (public domain), as
  matplotlib ships it in its sample data, cropped to head and shoulders: a real photo
  of a closed mouth.
* ``painted_portrait.jpg``: the closed-mouth sample face
  (``sample_face_closed.jpg``) repainted in brush strokes, coarse to fine, on a canvas
  texture: a painted portrait.
* ``bearded.jpg``: ``hopper_closed.jpg`` with a grey-brown moustache and a short beard
  drawn hair by hair from its landmarks: a bearded face whose moustache covers the
  top of the upper lip.

Every random choice has a fixed seed, so the files come out the same each run.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from avatar_animator.face import LandmarkDetector
from avatar_core.images import decode_image, encode_jpeg

HERE = Path(__file__).resolve().parent
QUALITY = 90


def hopper_photo() -> np.ndarray:
    """Grace Hopper's portrait from matplotlib's sample data, head and shoulders, RGB."""
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    rgb = decode_image(path.read_bytes())
    return np.ascontiguousarray(rgb[24 : 24 + 512, :512])


def painted(rgb: np.ndarray, seed: int = 7) -> np.ndarray:
    """Repaints a photo with oriented brush strokes, coarse to fine (Hertzmann-style).

    Each layer lays strokes of one brush size across the canvas along the image's
    contours (perpendicular to the gradient), coloured from a copy of the photo
    blurred to that size; finer layers only repaint where the canvas still differs
    from the photo, so faces keep their features while flat areas keep broad strokes.
    """
    random = np.random.default_rng(seed)
    height, width = rgb.shape[:2]
    photo = rgb.astype(np.float32)
    canvas = cv2.GaussianBlur(rgb, (0, 0), 12)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    for radius in (7, 4, 2):
        reference = cv2.GaussianBlur(photo, (0, 0), radius * 0.8)
        smooth = cv2.GaussianBlur(gray, (0, 0), radius)
        gx, gy = cv2.Sobel(smooth, cv2.CV_32F, 1, 0), cv2.Sobel(smooth, cv2.CV_32F, 0, 1)
        error = np.abs(canvas.astype(np.float32) - reference).sum(axis=2)
        ys, xs = np.mgrid[0:height:radius, 0:width:radius]
        points = np.stack([xs.ravel(), ys.ravel()], axis=1)
        points = points + random.integers(0, radius, points.shape)
        points = np.clip(points, 0, [width - 1, height - 1])
        random.shuffle(points)
        threshold = 0.0 if radius == 7 else 28.0
        for x, y in points:
            if error[y, x] < threshold:
                continue
            angle = np.arctan2(gy[y, x], gx[y, x]) + np.pi / 2 + random.normal(0, 0.15)
            length = radius * random.uniform(1.5, 3.0)
            step = np.array([np.cos(angle), np.sin(angle)]) * length / 2
            start = np.round((x, y) - step).astype(int)
            end = np.round((x, y) + step).astype(int)
            colour = reference[y, x] * random.uniform(0.96, 1.04)
            thickness = max(1, round(radius * random.uniform(0.9, 1.2)))
            cv2.line(canvas, tuple(start), tuple(end), colour.tolist(), thickness, cv2.LINE_AA)
    weave = (
        1.0
        + 0.025 * np.sin(np.arange(width) * 1.9)[None, :] * np.sin(np.arange(height) * 2.1)[:, None]
    )
    warm = np.array([1.03, 1.0, 0.92], dtype=np.float32)  # an aged varnish
    return np.clip(canvas * weave[..., None].astype(np.float32) * warm, 0, 255).astype(np.uint8)


def bearded(rgb: np.ndarray, landmarks: np.ndarray, seed: int = 11) -> np.ndarray:
    """Draws a moustache over the top of the upper lip and a short beard, hair by hair."""
    random = np.random.default_rng(seed)
    image = rgb.astype(np.float32)
    points = landmarks.astype(np.float64)
    mouth_width = float(np.linalg.norm(points[54] - points[48]))
    upper_thickness = float(points[62, 1] - points[51, 1])
    nose = points[31:36].copy()
    nose[:, 1] += 0.12 * mouth_width
    lip_top = points[48:55].copy()
    lip_top[1:-1, 1] += 0.35 * upper_thickness  # the moustache hangs over the lip
    moustache = np.vstack([lip_top, nose[::-1]])
    moustache[0, 0] -= 0.1 * mouth_width
    moustache[6, 0] += 0.1 * mouth_width
    lower_lip = points[[54, 55, 56, 57, 58, 59, 48]].copy()
    lower_lip[:, 1] += 0.12 * mouth_width
    beard = np.vstack([points[3:14], lower_lip])
    region = np.zeros(rgb.shape[:2], dtype=np.uint8)
    for polygon in (moustache, beard):
        cv2.fillPoly(region, [np.round(polygon).astype(np.int32)], 255, cv2.LINE_AA)
    density = cv2.GaussianBlur(region.astype(np.float32) / 255.0, (0, 0), 0.06 * mouth_width)
    # Skin under a beard is shaded by the hair roots.
    image *= 1.0 - 0.45 * density[..., None]
    hairs = np.zeros(rgb.shape, dtype=np.uint8)
    cover = np.zeros(rgb.shape[:2], dtype=np.uint8)
    centre_x = float(points[51, 0])
    ys, xs = np.nonzero(density > 0.05)
    count = int(len(xs) * 1.6)
    for index in random.integers(0, len(xs), count):
        x, y = float(xs[index]), float(ys[index])
        outward = np.clip((x - centre_x) / mouth_width, -1.0, 1.0)
        angle = np.pi / 2 - 0.9 * outward + random.normal(0, 0.25)
        length = random.uniform(0.06, 0.13) * mouth_width
        end = (x + np.cos(angle) * length, y + np.sin(angle) * length)
        shade = random.uniform(0.75, 1.25)
        colour = np.array([92.0, 80.0, 70.0]) * shade
        if random.random() < 0.2:
            colour = np.array([150.0, 145.0, 140.0]) * shade  # grey hairs
        start_px = (round(x * 16), round(y * 16))
        end_px = (round(end[0] * 16), round(end[1] * 16))
        cv2.line(hairs, start_px, end_px, colour.tolist(), 1, cv2.LINE_AA, 4)
        cv2.line(cover, start_px, end_px, 255, 1, cv2.LINE_AA, 4)
    coverage = cover.astype(np.float32) / 255.0
    alpha = coverage * density * 0.9
    colour = hairs.astype(np.float32) / np.maximum(coverage, 1e-3)[..., None]
    image = image * (1.0 - alpha[..., None]) + colour * alpha[..., None]
    return np.clip(image, 0, 255).astype(np.uint8)


def main() -> None:
    """Writes the three faces next to this script."""
    detector = LandmarkDetector()
    hopper = hopper_photo()
    (HERE / "hopper_closed.jpg").write_bytes(encode_jpeg(hopper, QUALITY))
    closed = (resources.files("avatar_devtools") / "assets" / "sample_face_closed.jpg").read_bytes()
    (HERE / "painted_portrait.jpg").write_bytes(encode_jpeg(painted(decode_image(closed)), QUALITY))
    (face,) = detector.detect(hopper)[:1]
    (HERE / "bearded.jpg").write_bytes(encode_jpeg(bearded(hopper, face.landmarks), QUALITY))
    for name in ("hopper_closed.jpg", "painted_portrait.jpg", "bearded.jpg"):
        path = HERE / name
        print(path, f"{path.stat().st_size / 1024:.0f} kB")


if __name__ == "__main__":
    main()
