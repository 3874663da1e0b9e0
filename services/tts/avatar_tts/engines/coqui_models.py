"""Finding and loading coqui-tts models: by coqui model name (downloaded on first use, as the
``tts`` command does) or from a local checkpoint and ``config.json``.

coqui-tts is an optional extra (``pip install avatar[coqui]``) and heavy to import, so it is
imported only when a model is loaded.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_LOGGER = logging.getLogger(__name__)
_NO_VOCODER = "none"
# coqui model types whose inference aligns input tokens with output frames.
_ALIGNED_MODELS = frozenset(
    {"glow_tts", "vits", "fast_pitch", "fast_speech", "fastspeech2", "speedy_speech", "align_tts"}
)


class CoquiModelError(RuntimeError):
    """A coqui model cannot be found, downloaded or loaded (the message says why)."""


@dataclass(frozen=True, slots=True)
class CoquiVoiceSpec:
    """A coqui model offered as a voice.

    Attributes:
        name: Name requests use, e.g. ``"glow-tts"``.
        model: A coqui model name (``"tts_models/en/ljspeech/glow-tts"``) or the path of a
            local checkpoint (``.pth``).
        config_path: The local checkpoint's ``config.json``; empty means the one beside it.
        language: BCP 47 tag of the voice; empty means the language in the model name.
        model_language: Language argument of multilingual models (YourTTS ``"en"``, XTTS
            ``"hr"``); empty means the one matching ``language``, else the model's first.
        speaker: Built-in speaker of multi-speaker models; empty means the model's first.
        vocoder: A coqui vocoder name, ``"none"`` for Griffin-Lim, or empty for the model's
            default vocoder.
        vocoder_checkpoint: A local vocoder checkpoint (with ``vocoder_config``), instead of a
            vocoder name.
        vocoder_config: The local vocoder's ``config.json``.
        description: Human-readable description; the model by default.
    """

    name: str
    model: str
    config_path: str = ""
    language: str = ""
    model_language: str = ""
    speaker: str = ""
    vocoder: str = ""
    vocoder_checkpoint: str = ""
    vocoder_config: str = ""
    description: str = ""

    @property
    def is_model_name(self) -> bool:
        """Whether :attr:`model` is a coqui model name rather than a local path."""
        return not self.config_path and self.model.startswith("tts_models/")

    @property
    def bcp47_language(self) -> str:
        """The voice's language: :attr:`language`, else the one in the model name, else ``und``."""
        if self.language:
            return self.language
        parts = self.model.split("/")
        if self.is_model_name and len(parts) == 4 and parts[1] not in ("multilingual",):
            return parts[1]
        return self.model_language or "und"


@dataclass(slots=True)
class LoadedCoquiModel:
    """A loaded coqui synthesizer and what the engine needs to know about it.

    Attributes:
        synthesizer: The ``TTS.utils.synthesizer.Synthesizer`` holding model and vocoder.
        lock: Serialises inference on the synthesizer (torch modules are not re-entrant);
            shared by every voice of the synthesizer.
        sample_rate: Sample rate of the audio it produces.
        seconds_per_frame: Duration of one output frame of the acoustic model.
        supports_cloning: Whether it takes a speaker sample.
        supports_streaming: Whether it streams audio while generating (XTTS).
        speaker: Built-in speaker used when no sample is given, if the model has several.
        model_language: Language argument for multilingual models, if it is one.
        needs_speaker_sample: Whether every request must bring a speaker sample (a cloning
            model without built-in speakers).
        aligned: Whether the model aligns tokens with frames, so it can give timings.
        language: BCP 47 tag of the voice: the spec's, else the model name's, else the one in
            the model's config.
    """

    synthesizer: Any
    lock: threading.Lock
    sample_rate: int
    seconds_per_frame: float
    supports_cloning: bool
    supports_streaming: bool
    speaker: str | None
    model_language: str | None
    needs_speaker_sample: bool
    aligned: bool
    language: str


def resolve_device(device: str) -> str:
    """Turns ``"auto"`` into ``"cuda"`` when torch sees a GPU, else ``"cpu"``."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class CoquiModelCache:
    """Loads each coqui model once; voices naming the same files share it and its lock.

    Args:
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        models_dir: Directory under which coqui keeps downloaded models (``<dir>/tts/...``);
            empty means coqui's default (``$TTS_HOME`` or the user data directory).
    """

    def __init__(self, device: str, models_dir: str = "") -> None:
        self._device = device
        self._models_dir = models_dir
        self._loaded: dict[tuple[str, ...], tuple[Any, threading.Lock]] = {}
        # Lookups that found the model loaded already, and those that had to load it.
        self.hits = 0
        self.misses = 0

    def load(self, spec: CoquiVoiceSpec) -> LoadedCoquiModel:
        """Returns the voice's model, loading (and, when named, downloading) it first if needed.

        Raises:
            CoquiModelError: coqui-tts is not installed, or the model cannot be found or loaded.
        """
        key = _cache_key(spec)
        if key in self._loaded:
            self.hits += 1
        else:
            self.misses += 1
            self._loaded[key] = (
                load_synthesizer(spec, self._device, self._models_dir),
                threading.Lock(),
            )
        synthesizer, lock = self._loaded[key]
        return _describe(spec, synthesizer, lock)


def _cache_key(spec: CoquiVoiceSpec) -> tuple[str, ...]:
    if spec.is_model_name:
        files = (spec.model,)
    else:
        files = (os.path.abspath(spec.model), os.path.abspath(_local_config(spec)))
    return (*files, spec.vocoder, spec.vocoder_checkpoint, spec.vocoder_config)


def load_synthesizer(spec: CoquiVoiceSpec, device: str, models_dir: str = "") -> Any:
    """Loads the coqui ``Synthesizer`` (model and vocoder) of ``spec``.

    Args:
        spec: The voice's model description.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        models_dir: Directory of downloaded models, as for :class:`CoquiModelCache`.

    Raises:
        CoquiModelError: coqui-tts is not installed, or the model cannot be found or loaded.
    """
    if not spec.is_model_name:
        _check_local_files(spec)
    try:
        from TTS.utils.synthesizer import Synthesizer
    except ImportError as error:
        raise CoquiModelError(
            f"coqui-tts is not installed ({error}); install the extra: pip install 'avatar[coqui]'"
        ) from error
    device = resolve_device(device)
    checkpoint, config, vocoder_checkpoint, vocoder_config = _model_files(spec, models_dir)
    try:
        return Synthesizer(
            tts_checkpoint=checkpoint,
            tts_config_path=config,
            vocoder_checkpoint=vocoder_checkpoint,
            vocoder_config=vocoder_config,
            use_cuda=device == "cuda",
        )
    except Exception as error:  # coqui raises anything from a bad checkpoint
        raise CoquiModelError(f"cannot load {checkpoint}: {error!r}") from error


def _model_files(
    spec: CoquiVoiceSpec, models_dir: str
) -> tuple[str, str | None, str | None, str | None]:
    """Returns the checkpoint, config, vocoder checkpoint and vocoder config to load."""
    if spec.is_model_name:
        manager = _model_manager(models_dir)
        checkpoint, config, item = _download(manager, spec.model)
        vocoder_name = spec.vocoder or (item.get("default_vocoder") or "")
    else:
        checkpoint, config = spec.model, _local_config(spec)
        vocoder_name = spec.vocoder
    if spec.vocoder_checkpoint:
        return checkpoint, config, spec.vocoder_checkpoint, spec.vocoder_config or None
    if vocoder_name and vocoder_name != _NO_VOCODER:
        vocoder_checkpoint, vocoder_config, _ = _download(_model_manager(models_dir), vocoder_name)
        return checkpoint, config, vocoder_checkpoint, vocoder_config
    return checkpoint, config, None, None


def _local_config(spec: CoquiVoiceSpec) -> str:
    return spec.config_path or str(Path(spec.model).parent / "config.json")


def _check_local_files(spec: CoquiVoiceSpec) -> None:
    for path in (spec.model, _local_config(spec), spec.vocoder_checkpoint, spec.vocoder_config):
        if path and not Path(path).exists():
            raise CoquiModelError(f"model file not found: {path}")


def _model_manager(models_dir: str) -> Any:
    from TTS.utils.manage import ModelManager

    return ModelManager(output_prefix=models_dir or None, progress_bar=False)


def _download(manager: Any, name: str) -> tuple[str, str, dict[str, Any]]:
    """Finds a named model in coqui's catalogue and downloads it unless already present."""
    parts = name.split("/")
    try:
        kind, language, dataset, model = parts
        item = manager.models_dict[kind][language][dataset][model]
    except (ValueError, KeyError) as error:
        raise CoquiModelError(f"{name!r} is not a coqui model name") from error
    folder = Path(manager.output_prefix) / "--".join(parts)
    agreed = os.environ.get("COQUI_TOS_AGREED") == "1" or (folder / "tos_agreed.txt").exists()
    if item.get("tos_required") and not agreed:
        # coqui would ask on stdin, which a server does not have.
        raise CoquiModelError(f"{name} needs its license accepted: set COQUI_TOS_AGREED=1")
    _LOGGER.info("loading coqui model %s from %s (downloading if absent)", name, folder)
    try:
        checkpoint, config, item = manager.download_model(name)
    except Exception as error:  # network, archive and file errors alike
        raise CoquiModelError(f"cannot download {name} into {folder}: {error!r}") from error
    return str(checkpoint), str(config) if config else "", item


def _describe(spec: CoquiVoiceSpec, synthesizer: Any, lock: threading.Lock) -> LoadedCoquiModel:
    """Reads sample rate, frame length, speakers and languages off a loaded synthesizer."""
    model = synthesizer.tts_model
    audio = synthesizer.tts_config.audio
    speaker_manager = getattr(model, "speaker_manager", None)
    speakers = list(getattr(speaker_manager, "speaker_names", None) or [])
    speaker = spec.speaker or (speakers[0] if len(speakers) > 1 else None)
    language_manager = getattr(model, "language_manager", None)
    languages = list(getattr(language_manager, "language_names", None) or [])
    languages += list(getattr(synthesizer.tts_config, "languages", None) or [])
    model_language = spec.model_language or _pick_language(spec.bcp47_language, languages)
    language = spec.bcp47_language
    if language == "und":
        language = str(synthesizer.tts_config.get("phoneme_language") or model_language or "und")
    return LoadedCoquiModel(
        synthesizer=synthesizer,
        lock=lock,
        sample_rate=int(synthesizer.output_sample_rate),
        seconds_per_frame=float(audio["hop_length"]) / float(audio["sample_rate"]),
        supports_cloning=bool(synthesizer.tts_config.supports_cloning),
        supports_streaming=hasattr(model, "inference_stream"),
        speaker=speaker,
        model_language=model_language,
        needs_speaker_sample=bool(synthesizer.tts_config.supports_cloning) and not speakers,
        aligned=str(synthesizer.tts_config.get("model", "")) in _ALIGNED_MODELS,
        language=language,
    )


def _pick_language(language: str, languages: list[str]) -> str | None:
    if not languages:
        return None
    primary = language.split("-")[0].lower()
    return next((name for name in languages if name.split("-")[0].lower() == primary), languages[0])
