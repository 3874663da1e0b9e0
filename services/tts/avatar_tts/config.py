"""Configuration of the tts service, from ``AVATAR_TTS_*`` variables.

The neural voices (``AVATAR_TTS_HIBARI_VOICES``, ``AVATAR_TTS_PIPER_VOICES``) are parsed by
:mod:`avatar_tts.neural_config`. The default voice is hibari's ``heart`` when it is offered,
else espeak-ng's ``en-us``.

Coqui voices are listed in ``AVATAR_TTS_COQUI_VOICES``, entries separated by ``;``:

- ``glow-tts`` - a preset by name (``glow-tts``, ``your-tts``, ``hr-vits``, ``xtts-v2``);
- ``name=tts_models/en/ljspeech/glow-tts`` - any coqui model name;
- ``name=/path/model.pth|/path/config.json`` - a local checkpoint and its config;
- options follow as ``|key=value``: ``language``, ``model_language``, ``speaker``,
  ``vocoder``, ``vocoder_checkpoint``, ``vocoder_config``, ``description``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from avatar_core.config import ConfigError, EnvReader, ServerConfig
from avatar_tts.engines.coqui_models import CoquiVoiceSpec
from avatar_tts.engines.espeak import DEFAULT_ESPEAK_VOICES, EspeakVoiceSpec
from avatar_tts.engines.hibari import HibariVoiceSpec
from avatar_tts.engines.piper_voice import PiperVoiceSpec
from avatar_tts.neural_config import (
    DEFAULT_HIBARI_VOICES,
    DEFAULT_PIPER_VOICES,
    HIBARI_PRESETS,
    PIPER_PRESETS,
    parse_hibari_voices,
    parse_piper_voices,
)

COQUI_PRESETS: dict[str, CoquiVoiceSpec] = {
    "glow-tts": CoquiVoiceSpec(
        "glow-tts",
        "tts_models/en/ljspeech/glow-tts",
        language="en-US",
        description="coqui GlowTTS, LJSpeech (English)",
    ),
    "your-tts": CoquiVoiceSpec(
        "your-tts",
        "tts_models/multilingual/multi-dataset/your_tts",
        language="en",
        model_language="en",
        description="coqui YourTTS: clones a speaker sample",
    ),
    "hr-vits": CoquiVoiceSpec(
        "hr-vits", "tts_models/hr/cv/vits", language="hr", description="coqui VITS, Croatian"
    ),
    "xtts-v2": CoquiVoiceSpec(
        "xtts-v2",
        "tts_models/multilingual/multi-dataset/xtts_v2",
        language="en",
        model_language="en",
        description="coqui XTTS v2: streams, clones a speaker sample",
    ),
}
"""Named coqui voices; each appears only when listed in ``AVATAR_TTS_COQUI_VOICES``."""

_VOICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_OPTION_KEYS = frozenset(
    f.name for f in fields(CoquiVoiceSpec) if f.name not in ("name", "model", "config_path")
)
_DEVICES = ("auto", "cpu", "cuda")
NEURAL_DEFAULT_VOICE = "heart"
"""The default voice when it is offered: hibari's, inside the ``hibari-tts`` wheel."""
ESPEAK_DEFAULT_VOICE = "en-us"


@dataclass(frozen=True, slots=True)
class TtsConfig:
    """Settings of the tts service.

    Attributes:
        server: Shared server settings (``AVATAR_TTS_PORT`` etc.; port 50053, metrics 9053).
        default_voice: Voice of requests that name none (``AVATAR_TTS_DEFAULT_VOICE``):
            ``heart`` when hibari's heart is offered, else ``en-us``.
        max_text_chars: Longest text accepted (``AVATAR_TTS_MAX_TEXT_CHARS``).
        normalize_text: Whether numbers, currency, times and abbreviations are spelled out
            before synthesis (``AVATAR_TTS_NORMALIZE_TEXT``).
        espeak_voices: The espeak-ng voices offered (``AVATAR_TTS_ESPEAK_VOICES``).
        espeak_rate_words_per_minute: espeak-ng speaking rate (``AVATAR_TTS_ESPEAK_RATE``).
        hibari_voices: Hibari voices (``AVATAR_TTS_HIBARI_VOICES``); ``heart`` by default.
        piper_voices: Piper voices (``AVATAR_TTS_PIPER_VOICES``); ``joe`` by default.
        onnx_threads: ONNX Runtime threads per neural voice (``AVATAR_TTS_ONNX_THREADS``).
        coqui_voices: Coqui voices (``AVATAR_TTS_COQUI_VOICES``); none by default.
        coqui_device: ``auto``, ``cpu`` or ``cuda`` (``AVATAR_TTS_COQUI_DEVICE``).
        coqui_models_dir: Where coqui keeps downloaded models (``AVATAR_TTS_COQUI_MODELS_DIR``);
            empty means coqui's default (``$TTS_HOME`` or ``~/.local/share/tts``).
        first_chunk_seconds: Most audio in a stream's first chunk
            (``AVATAR_TTS_FIRST_CHUNK_SECONDS``).
        chunk_seconds: Most audio in later chunks (``AVATAR_TTS_CHUNK_SECONDS``).
        workers: Threads running synthesis (``AVATAR_TTS_WORKERS``).
        max_speaker_sample_bytes: Largest speaker sample accepted, encoded
            (``AVATAR_TTS_MAX_SPEAKER_SAMPLE_BYTES``); at most the server's message limit.
        speaker_cache_size: Cloned voices kept by sample hash
            (``AVATAR_TTS_SPEAKER_CACHE_SIZE``).
    """

    server: ServerConfig
    default_voice: str = NEURAL_DEFAULT_VOICE
    max_text_chars: int = 2000
    normalize_text: bool = True
    espeak_voices: tuple[EspeakVoiceSpec, ...] = DEFAULT_ESPEAK_VOICES
    espeak_rate_words_per_minute: int = 175
    hibari_voices: tuple[HibariVoiceSpec, ...] = (HIBARI_PRESETS["heart"],)
    piper_voices: tuple[PiperVoiceSpec, ...] = (PIPER_PRESETS["joe"],)
    onnx_threads: int = 1
    coqui_voices: tuple[CoquiVoiceSpec, ...] = ()
    coqui_device: str = "auto"
    coqui_models_dir: str = ""
    first_chunk_seconds: float = 0.1
    chunk_seconds: float = 0.5
    workers: int = 4
    max_speaker_sample_bytes: int = 6 * 1024 * 1024
    speaker_cache_size: int = 64

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TtsConfig:
        """Reads and validates the settings.

        Raises:
            ConfigError: A setting is invalid; the message names the variable.
        """
        env = EnvReader("AVATAR_TTS_", environ)
        coqui_voices = parse_coqui_voices(env.string("COQUI_VOICES"), env.name("COQUI_VOICES"))
        espeak_voices = parse_espeak_voices(env.string("ESPEAK_VOICES"), env.name("ESPEAK_VOICES"))
        device = env.string("COQUI_DEVICE", "auto").lower()
        if device not in _DEVICES:
            raise ConfigError(f"{env.name('COQUI_DEVICE')}={device!r}: use one of {_DEVICES}")
        first_chunk = env.number("FIRST_CHUNK_SECONDS", 0.1, minimum=0.01, maximum=0.2)
        hibari_voices = parse_hibari_voices(
            env.string("HIBARI_VOICES", DEFAULT_HIBARI_VOICES), env.name("HIBARI_VOICES")
        )
        piper_voices = parse_piper_voices(
            env.string("PIPER_VOICES", DEFAULT_PIPER_VOICES), env.name("PIPER_VOICES")
        )
        offers_neural_default = any(spec.name == NEURAL_DEFAULT_VOICE for spec in hibari_voices)
        config = cls(
            server=ServerConfig.from_env("tts", environ),
            default_voice=env.string(
                "DEFAULT_VOICE",
                NEURAL_DEFAULT_VOICE if offers_neural_default else ESPEAK_DEFAULT_VOICE,
            ),
            max_text_chars=env.integer("MAX_TEXT_CHARS", 2000, minimum=1, maximum=100_000),
            normalize_text=env.boolean("NORMALIZE_TEXT", True),
            espeak_voices=espeak_voices,
            espeak_rate_words_per_minute=env.integer("ESPEAK_RATE", 175, minimum=80, maximum=450),
            hibari_voices=hibari_voices,
            piper_voices=piper_voices,
            onnx_threads=env.integer("ONNX_THREADS", 1, minimum=1, maximum=64),
            coqui_voices=coqui_voices,
            coqui_device=device,
            coqui_models_dir=env.string("COQUI_MODELS_DIR"),
            first_chunk_seconds=first_chunk,
            chunk_seconds=env.number("CHUNK_SECONDS", 0.5, minimum=first_chunk, maximum=10.0),
            workers=env.integer("WORKERS", 4, minimum=1, maximum=64),
            max_speaker_sample_bytes=env.integer(
                "MAX_SPEAKER_SAMPLE_BYTES", 6 * 1024 * 1024, minimum=1024, maximum=1 << 30
            ),
            speaker_cache_size=env.integer("SPEAKER_CACHE_SIZE", 64, minimum=1, maximum=100_000),
        )
        if config.max_speaker_sample_bytes >= config.server.max_message_bytes:
            raise ConfigError(
                f"{env.name('MAX_SPEAKER_SAMPLE_BYTES')}={config.max_speaker_sample_bytes} must be "
                f"below the message limit {env.name('MAX_MESSAGE_BYTES')}="
                f"{config.server.max_message_bytes}"
            )
        config.check_voice_names(env)
        return config

    def check_voice_names(self, env: EnvReader) -> None:
        """Fails when voice names clash or the default voice is not configured."""
        offered: dict[str, str] = {}
        for variable, engine, specs in (
            ("ESPEAK_VOICES", "an espeak", self.espeak_voices),
            ("HIBARI_VOICES", "a hibari", self.hibari_voices),
            ("PIPER_VOICES", "a piper", self.piper_voices),
            ("COQUI_VOICES", "a coqui", self.coqui_voices),
        ):
            for spec in specs:
                if spec.name in offered:
                    raise ConfigError(
                        f"{env.name(variable)}: {spec.name!r} is already {offered[spec.name]} voice"
                    )
                offered[spec.name] = engine
        if self.default_voice not in offered:
            raise ConfigError(
                f"{env.name('DEFAULT_VOICE')}={self.default_voice!r} is not a configured voice; "
                f"voices: {', '.join(sorted(offered))}"
            )


def parse_espeak_voices(
    text: str, variable: str = "AVATAR_TTS_ESPEAK_VOICES"
) -> tuple[EspeakVoiceSpec, ...]:
    """Parses the espeak voice list: comma-separated ``name`` or ``name=espeak-voice``.

    A bare name is espeak-ng's voice of that name (``de``, ``sr``, ``pl``...), or one of the
    defaults (``en-gb`` is espeak-ng's ``en``); empty text means the defaults.

    Raises:
        ConfigError: A name is malformed or repeated.
    """
    if not text.strip():
        return DEFAULT_ESPEAK_VOICES
    defaults = {spec.name: spec for spec in DEFAULT_ESPEAK_VOICES}
    specs: list[EspeakVoiceSpec] = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        name, _, espeak_voice = (piece.strip() for piece in entry.partition("="))
        if not _VOICE_NAME.match(name):
            raise ConfigError(f"{variable}: {name!r} is not a valid voice name")
        if any(spec.name == name for spec in specs):
            raise ConfigError(f"{variable}: voice {name!r} is listed twice")
        if espeak_voice:
            specs.append(
                EspeakVoiceSpec(name, espeak_voice, espeak_voice, f"espeak-ng {espeak_voice}")
            )
        else:
            specs.append(defaults.get(name, EspeakVoiceSpec(name, name, name, f"espeak-ng {name}")))
    return tuple(specs)


def parse_coqui_voices(
    text: str, variable: str = "AVATAR_TTS_COQUI_VOICES"
) -> tuple[CoquiVoiceSpec, ...]:
    """Parses the coqui voice list (grammar in this module's docstring).

    Args:
        text: The variable's value.
        variable: Its name, for error messages.

    Raises:
        ConfigError: An entry is malformed, names an unknown preset or repeats a name.
    """
    specs: list[CoquiVoiceSpec] = []
    for entry in (part.strip() for part in text.split(";")):
        if not entry:
            continue
        name, _, source = (piece.strip() for piece in entry.partition("="))
        if not _VOICE_NAME.match(name):
            raise ConfigError(f"{variable}: {name!r} is not a valid voice name")
        if any(spec.name == name for spec in specs):
            raise ConfigError(f"{variable}: voice {name!r} is listed twice")
        if not source:
            if name not in COQUI_PRESETS:
                raise ConfigError(
                    f"{variable}: {name!r} is not a preset ({', '.join(COQUI_PRESETS)}); "
                    f"write {name}=<coqui model name or checkpoint|config>"
                )
            specs.append(COQUI_PRESETS[name])
            continue
        specs.append(_parse_source(name, source, variable))
    return tuple(specs)


def _parse_source(name: str, source: str, variable: str) -> CoquiVoiceSpec:
    parts = [part.strip() for part in source.split("|")]
    model, rest = parts[0], parts[1:]
    config_path = ""
    if rest and "=" not in rest[0]:
        config_path, rest = rest[0], rest[1:]
    options: dict[str, str] = {}
    for option in rest:
        key, separator, value = (piece.strip() for piece in option.partition("="))
        if not separator or key not in _OPTION_KEYS:
            raise ConfigError(
                f"{variable}: {option!r} in voice {name!r} is not an option "
                f"({', '.join(sorted(_OPTION_KEYS))})"
            )
        options[key] = value
    if not model:
        raise ConfigError(f"{variable}: voice {name!r} names no model")
    base = COQUI_PRESETS.get(name, CoquiVoiceSpec(name, model))
    # A preset's name keeps its language and description when pointed at another checkpoint.
    return replace(base, model=model, config_path=config_path, **options)
