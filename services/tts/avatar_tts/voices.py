"""The voice registry: every engine's voices under one set of names, with request checks.

The servicer talks only to :class:`VoiceRegistry`. It resolves the default voice, rejects
empty or over-long text, unknown voices (naming the available ones), voices whose model failed
to load (with the load error) and speaker samples sent to voices that cannot clone. It
normalises the text for the voice's language before any engine sees it, and names the timed
words after the words as written (see :mod:`avatar_tts.text`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from avatar_tts.config import TtsConfig
from avatar_tts.engines.base import (
    CloningNotSupportedError,
    InvalidSpeakerSampleError,
    InvalidTextError,
    SynthesisChunk,
    TtsEngine,
    UnknownVoiceError,
    VoiceInfo,
    VoiceUnavailableError,
)
from avatar_tts.engines.coqui import CoquiEngine
from avatar_tts.engines.espeak import EspeakEngine
from avatar_tts.engines.hibari import HibariEngine
from avatar_tts.engines.piper import PiperEngine
from avatar_tts.scripts import script_problem
from avatar_tts.text import WordNamer, normalize_text

_LOGGER = logging.getLogger(__name__)


class VoiceRegistry(TtsEngine):
    """Several engines behind one voice list.

    Args:
        engines: The engines; their voice names must not clash.
        default_voice: Voice used when a request names none.
        max_text_chars: Longest text accepted, in characters (as written, before
            normalisation).
        normalize: Whether to spell out numbers, currency, times and abbreviations before
            synthesis.
        max_speaker_sample_bytes: Largest speaker sample accepted, encoded.

    Raises:
        ValueError: Two engines offer the same voice name, or the default voice is unknown.
    """

    def __init__(
        self,
        engines: Sequence[TtsEngine],
        default_voice: str,
        max_text_chars: int,
        *,
        normalize: bool = True,
        max_speaker_sample_bytes: int = 6 * 1024 * 1024,
    ) -> None:
        self._engines = list(engines)
        self._engine_of: dict[str, TtsEngine] = {}
        for engine in self._engines:
            for voice in engine.voices():
                if voice.name in self._engine_of:
                    raise ValueError(f"voice name {voice.name!r} is offered twice")
                self._engine_of[voice.name] = engine
        if default_voice not in self._engine_of:
            raise ValueError(
                f"default voice {default_voice!r} is not configured; "
                f"voices: {', '.join(self._engine_of)}"
            )
        self.default_voice = default_voice
        self.max_text_chars = max_text_chars
        self.normalize = normalize
        self.max_speaker_sample_bytes = max_speaker_sample_bytes
        # Seconds each engine took to load and warm up, by engine name ("espeak", "hibari"...).
        self.load_seconds: dict[str, float] = {}

    @property
    def engines(self) -> tuple[TtsEngine, ...]:
        """The engines behind the voices."""
        return tuple(self._engines)

    def voices(self) -> list[VoiceInfo]:
        """Returns every engine's voices, loaded or not."""
        return [voice for engine in self._engines for voice in engine.voices()]

    def load(self) -> None:
        """Loads every engine; failed voices are marked unavailable, never fatal."""
        for engine in self._engines:
            started = time.perf_counter()
            engine.load()
            name = type(engine).__name__.removesuffix("Engine").lower()
            self.load_seconds[name] = time.perf_counter() - started
        # Voices that failed are reported by the servicer, with their health-check names.
        for voice in self.voices():
            if voice.available:
                _LOGGER.info(
                    "voice %s (%s) is ready: %s", voice.name, voice.engine, voice.description
                )

    def resolve(self, voice: str) -> VoiceInfo:
        """Returns the voice named ``voice`` (the default one when empty).

        Raises:
            UnknownVoiceError: No engine offers it.
        """
        name = voice or self.default_voice
        engine = self._engine_of.get(name)
        if engine is None:
            raise UnknownVoiceError(name, list(self._engine_of))
        return next(info for info in engine.voices() if info.name == name)

    def check_text(self, text: str) -> None:
        """Rejects text that is empty, only white space, or longer than the limit.

        Raises:
            InvalidTextError: The text cannot be spoken.
        """
        if not text.strip():
            raise InvalidTextError("the text is empty: give something to say")
        if len(text) > self.max_text_chars:
            raise InvalidTextError(
                f"the text has {len(text)} characters; the limit is {self.max_text_chars}"
            )
        # Punctuation or symbols alone would come out as silence (or a spelled symbol name).
        if not any(character.isalnum() for character in text):
            raise InvalidTextError(
                "the text has nothing to speak: it needs at least one letter or digit"
            )

    def synthesize(
        self, text: str, voice: str, speaker_sample: bytes | None = None
    ) -> Iterator[SynthesisChunk]:
        """Checks the request and hands it to the voice's engine; errors raise at once.

        Args:
            text: What to say.
            voice: Voice name; empty means the default voice.
            speaker_sample: Encoded speaker sample for cloning voices.

        Raises:
            InvalidTextError: Empty or over-long text, text with nothing to speak, or text
                mostly in a script the voice does not read.
            UnknownVoiceError: No such voice.
            VoiceUnavailableError: The voice's model failed to load.
            CloningNotSupportedError: A sample was given to a voice that cannot clone.
            InvalidSpeakerSampleError: The sample is larger than the limit (the engine
                rejects samples that are not audio, too short or too long).
        """
        self.check_text(text)
        info = self.resolve(voice)
        if not info.available:
            raise VoiceUnavailableError(f"voice {info.name!r} is unavailable: {info.error}")
        problem = script_problem(text, info.name, info.language)
        if problem:
            raise InvalidTextError(problem)
        if speaker_sample and not info.supports_cloning:
            raise CloningNotSupportedError(
                f"voice {info.name!r} cannot clone a speaker sample; "
                f"cloning voices: {', '.join(self.cloning_voices()) or 'none configured'}"
            )
        if speaker_sample and len(speaker_sample) > self.max_speaker_sample_bytes:
            raise InvalidSpeakerSampleError(
                f"the speaker sample has {len(speaker_sample)} bytes; the limit is "
                f"{self.max_speaker_sample_bytes} (send 3-30 s of speech, e.g. as MP3 or OGG)"
            )
        if not self.normalize:
            return self._engine_of[info.name].synthesize(text, info.name, speaker_sample)
        normalized = normalize_text(text, info.language)
        chunks = self._engine_of[info.name].synthesize(normalized.text, info.name, speaker_sample)
        if not normalized.expansions:
            return chunks
        return _named_words(chunks, normalized.word_namer())

    def cloning_voices(self) -> list[str]:
        """Names of the available voices that take a speaker sample."""
        return [v.name for v in self.voices() if v.available and v.supports_cloning]


def _named_words(chunks: Iterator[SynthesisChunk], namer: WordNamer) -> Iterator[SynthesisChunk]:
    """Passes chunks on with their words named as written (an expanded token is one word)."""
    try:
        for chunk in chunks:
            yield SynthesisChunk(chunk.samples, chunk.phonemes, tuple(namer.add(chunk.words)))
        held_back = namer.finish()
        if held_back:
            yield SynthesisChunk(np.zeros(0, np.int16), (), tuple(held_back))
    finally:
        # Closing this generator early (a client cancel) must stop the engine's work too.
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


def build_registry(
    config: TtsConfig, on_speaker_cache_lookup: Callable[[bool], None] | None = None
) -> VoiceRegistry:
    """Builds the espeak engine (always) and the hibari, piper and coqui engines (when voices
    are configured for them).

    Args:
        config: The service's settings.
        on_speaker_cache_lookup: Told of every speaker-cache lookup (True for a hit).
    """
    engines: list[TtsEngine] = [
        EspeakEngine(
            config.espeak_voices,
            rate_words_per_minute=config.espeak_rate_words_per_minute,
            first_chunk_seconds=config.first_chunk_seconds,
            chunk_seconds=config.chunk_seconds,
        )
    ]
    chunking = {
        "first_chunk_seconds": config.first_chunk_seconds,
        "chunk_seconds": config.chunk_seconds,
    }
    if config.hibari_voices:
        engines.append(
            HibariEngine(list(config.hibari_voices), threads=config.onnx_threads, **chunking)
        )
    if config.piper_voices:
        engines.append(
            PiperEngine(list(config.piper_voices), threads=config.onnx_threads, **chunking)
        )
    if config.coqui_voices:
        engines.append(
            CoquiEngine(
                config.coqui_voices,
                device=config.coqui_device,
                models_dir=config.coqui_models_dir,
                first_chunk_seconds=config.first_chunk_seconds,
                chunk_seconds=config.chunk_seconds,
                speaker_cache_size=config.speaker_cache_size,
                on_speaker_cache_lookup=on_speaker_cache_lookup,
            )
        )
    return VoiceRegistry(
        engines,
        config.default_voice,
        config.max_text_chars,
        normalize=config.normalize_text,
        max_speaker_sample_bytes=config.max_speaker_sample_bytes,
    )
