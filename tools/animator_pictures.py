"""Makes the animator's pictures: the closed-mouth sample photo and the frame sheets.

Usage: python tools/animator_pictures.py [--closed-photo] [--sheets]

``--closed-photo`` derives ``tools/devtools/avatar_devtools/assets/sample_face_closed.jpg`` from the
sample photo with the animator's own renderer (lips closed, everything else as
in the photo), a second test face whose mouth shows no teeth. ``--sheets``
renders an espeak-ng sentence on both sample photos and writes one contact sheet
of labelled frames per photo to ``services/animator/docs/``. With no
option, both are made.
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
from avatar_animator.visemes import MouthShape, visemes_for_symbol
from avatar_core.images import encode_jpeg

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "tools" / "devtools" / "avatar_devtools" / "assets"
DOCS = ROOT / "services" / "animator" / "docs"
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


def main() -> None:
    """Parses the options and makes the pictures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--closed-photo", action="store_true", help="derive the closed photo")
    parser.add_argument("--sheets", action="store_true", help="render the frame sheets")
    args = parser.parse_args()
    everything = not (args.closed_photo or args.sheets)
    if args.closed_photo or everything:
        print(make_closed_photo())
    if args.sheets or everything:
        for path in make_sheets():
            print(path, f"{path.stat().st_size / 1024:.0f} kB")


if __name__ == "__main__":
    main()
