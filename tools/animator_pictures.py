"""Makes the animator's pictures: frame sheets, 3x mouth sheets, the closed-mouth sample.

Usage: python tools/animator_pictures.py [--sheets] [--mouths] [--closed-photo]

``--sheets`` renders an espeak-ng sentence on both sample photos and writes one
contact sheet of labelled frames per photo to ``services/animator/docs/``.
``--mouths`` writes, for each of four kinds of face (the smiling sample with its
teeth, a real closed-mouth photo, a painted portrait, a bearded face; see
``tests/animator/data/README.md``), the mouth for each viseme group zoomed 3x
(nearest neighbour, so every pixel shows). With neither, both are made.
``--closed-photo`` re-derives ``tools/devtools/avatar_devtools/assets/sample_face_closed.jpg``
from the sample photo with the animator's own renderer (lips closed, everything
else as in the photo), a second test face whose mouth shows no teeth.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from avatar_animator.emphasis import BROW_SECONDS
from avatar_animator.engine import AnimationSession, MotionSettings
from avatar_animator.face import FacePreparer, PreparedFace
from avatar_animator.motion import FramePose, IdleMotion
from avatar_animator.visemes import MouthShape, VisemeTrack, visemes_for_symbol
from avatar_core.images import encode_jpeg
from avatar_core.timing import Phoneme

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "tools" / "devtools" / "avatar_devtools" / "assets"
DOCS = ROOT / "services" / "animator" / "docs"
TEST_FACES = ROOT / "tests" / "animator" / "data"
MOUTH_FACES = {
    "smile_teeth": ASSETS / "sample_face.jpg",
    "closed_photo": TEST_FACES / "hopper_closed.jpg",
    "painted": TEST_FACES / "painted_portrait.jpg",
    "bearded": TEST_FACES / "bearded.jpg",
}
# One sound per viseme group, held: the label says which sounds share the shape.
VISEME_GROUPS = {
    "rest": None,
    "m b p": "m",
    "f v": "f",
    "th": "θ",
    "t d n l": "t",
    "s z": "s",
    "sh ch j": "ʃ",
    "k g": "k",
    "a (father)": "ɑ",
    "e (bed)": "ɛ",
    "ee (see)": "i",
    "o (law)": "ɔ",
    "oo (moon)": "u",
    "r": "ɹ",
}
ZOOM = 3
SENTENCE = "Maybe we could talk about the moon, Bob."
FPS = 25.0
SEED = 5


def make_closed_photo() -> Path:
    """Writes the sample photo with its lips closed (JPEG quality 92)."""
    photo = (ASSETS / "sample_face.jpg").read_bytes()
    face, _ = FacePreparer().prepare(photo)
    closed = face.warper.render(FramePose(mouth=MouthShape(opening=0.0, rest=0.0)))
    path = ASSETS / "sample_face_closed.jpg"
    path.write_bytes(encode_jpeg(closed, 92))
    return path


def _speech() -> tuple[np.ndarray, list, int]:
    from avatar_tts.engines.espeak import EspeakEngine

    engine = EspeakEngine()
    chunks = list(engine.synthesize(SENTENCE, "en-us"))
    samples = np.concatenate([chunk.samples for chunk in chunks])
    return samples, [p for chunk in chunks for p in chunk.phonemes], engine.sample_rate


def _picked_frames(phonemes: list, motion: MotionSettings, count: int) -> dict[str, int]:
    """Frame indices worth showing: an open vowel, a rounded one, a p/b/m, a blink, brows."""

    def centre_frame(phoneme) -> int:
        return round((phoneme.start_seconds + phoneme.end_seconds) / 2 * FPS)

    def first(*sounds: str):
        return next(p for p in phonemes if p.symbol.strip("ˈˌː") in sounds)

    idle = IdleMotion(motion, FPS)
    blink = next(index for index in range(count) if idle.pose(index).blink == 1.0)
    stressed = next(
        p for p in phonemes if p.stressed and visemes_for_symbol(p.symbol)[0] is not None
    )
    return {
        "rest (the photo)": -1,
        "'a' in talk": centre_frame(first("ɔː", "ɑː", "ɔ")),
        "'oo' in moon": centre_frame(first("uː", "u")),
        "'m' in maybe": centre_frame(first("m")),
        "'b' in Bob": centre_frame(first("b")),
        "blink": blink,
        "brow raise": round((stressed.start_seconds + BROW_SECONDS / 2) * FPS),
    }


def _sheet(face: PreparedFace, frames: list[np.ndarray], picks: dict[str, int]) -> np.ndarray:
    """Labelled face crops side by side."""
    points = face.landmarks
    left, right = int(points[:, 0].min()) - 24, int(points[:, 0].max()) + 24
    top, bottom = int(points[17:27, 1].min()) - 40, int(points[8, 1]) + 16
    tiles = []
    for label, index in picks.items():
        frame = face.image if index < 0 else frames[index]
        tile = np.ascontiguousarray(frame[top:bottom, left:right])
        band = np.full((22, tile.shape[1], 3), 255, dtype=np.uint8)
        cv2.putText(band, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(np.vstack([tile, band]))
    return np.hstack(tiles)


def make_sheets() -> list[Path]:
    """Renders the sentence on both photos and writes a contact sheet for each."""
    samples, phonemes, sample_rate = _speech()
    motion = MotionSettings(seed=SEED, brow_raise=1.0)
    preparer = FacePreparer()
    DOCS.mkdir(exist_ok=True)
    written = []
    for name in ("sample_face", "sample_face_closed"):
        face, _ = preparer.prepare((ASSETS / f"{name}.jpg").read_bytes())
        session = AnimationSession(face, fps=FPS, sample_rate=sample_rate, motion=motion)
        session.push_phonemes(phonemes)
        session.push_audio(samples)
        frames = session.finish()
        sheet = _sheet(face, frames, _picked_frames(phonemes, motion, len(frames)))
        path = DOCS / f"frames_{name}.png"
        small = cv2.resize(sheet, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA)
        # A 256-colour palette keeps each sheet well under 300 kB.
        Image.fromarray(small).quantize(256, dither=Image.Dither.FLOYDSTEINBERG).save(
            path, optimize=True
        )
        written.append(path)
    return written


def held_mouth(symbol: str | None) -> MouthShape:
    """The mouth shape in the middle of a held sound, as the viseme track makes it."""
    if symbol is None:
        return MouthShape()
    track = VisemeTrack()
    track.extend([Phoneme("_", 0.0, 0.3), Phoneme(symbol, 0.3, 0.7, stressed=True)])
    return track.mouth_at(0.5)


def _mouth_tile(face: PreparedFace, frame: np.ndarray, label: str) -> np.ndarray:
    """The mouth of a frame, zoomed 3x, with its label underneath."""
    points = face.landmarks
    width = float(np.linalg.norm(points[54] - points[48]))
    centre = points[[48, 54]].mean(axis=0)
    left, right = int(centre[0] - 0.85 * width), int(centre[0] + 0.85 * width)
    top, bottom = int(points[33, 1] + 0.1 * width), int(points[8, 1] - 0.15 * width)
    crop = np.ascontiguousarray(frame[top:bottom, left:right])
    tile = cv2.resize(crop, None, fx=ZOOM, fy=ZOOM, interpolation=cv2.INTER_NEAREST)
    band = np.full((26, tile.shape[1], 3), 255, dtype=np.uint8)
    cv2.putText(band, label, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([tile, band])


def make_mouth_sheets() -> list[Path]:
    """Writes one sheet per kind of face: the mouth of every viseme group at 3x."""
    preparer = FacePreparer()
    written = []
    for name, photo in MOUTH_FACES.items():
        face, _ = preparer.prepare(photo.read_bytes())
        tiles = [
            _mouth_tile(face, face.warper.render(FramePose(mouth=held_mouth(symbol))), label)
            for label, symbol in VISEME_GROUPS.items()
        ]
        columns = (len(tiles) + 1) // 2
        blank = np.full_like(tiles[0], 255)
        rows = [
            np.hstack((tiles[row * columns : (row + 1) * columns] + [blank] * columns)[:columns])
            for row in range(2)
        ]
        path = DOCS / f"mouths_{name}.png"
        Image.fromarray(np.vstack(rows)).quantize(256, dither=Image.Dither.NONE).save(
            path, optimize=True
        )
        written.append(path)
    return written


def main() -> None:
    """Parses the options and makes the pictures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--closed-photo", action="store_true", help="derive the closed photo")
    parser.add_argument("--sheets", action="store_true", help="render the frame sheets")
    parser.add_argument("--mouths", action="store_true", help="render the 3x mouth sheets")
    args = parser.parse_args()
    everything = not (args.closed_photo or args.sheets or args.mouths)
    if args.closed_photo:
        print(make_closed_photo())
    made = (make_sheets() if args.sheets or everything else []) + (
        make_mouth_sheets() if args.mouths or everything else []
    )
    for path in made:
        print(path, f"{path.stat().st_size / 1024:.0f} kB")


if __name__ == "__main__":
    main()
