"""The espeak-ng engine: fast formant speech in ~100 languages with exact phoneme timings.

It needs no model download, so it is the offline default. Audio streams while espeak-ng
synthesises: its callback runs in a producer thread and the generator hands each piece on as
soon as it exists, with the phonemes and words completed by it.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from avatar_core.timing import Phoneme, Word
from avatar_tts.engines.base import (
    CloningNotSupportedError,
    InvalidTextError,
    SynthesisChunk,
    SynthesisError,
    TtsEngine,
    UnknownVoiceError,
    VoiceInfo,
    VoiceUnavailableError,
)
from avatar_tts.engines.espeak_library import (
    EspeakEvent,
    EspeakLibrary,
    EspeakLibraryError,
    shared_library,
)
from avatar_tts.engines.espeak_timing import EspeakTimingBuilder

ENGINE_NAME = "espeak"
_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EspeakVoiceSpec:
    """An espeak-ng voice offered under a name.

    Attributes:
        name: Name requests use, e.g. ``"en-us"``.
        espeak_voice: espeak-ng's voice file name, e.g. ``"en-us"``, ``"hr"``, ``"en"`` (British).
        language: BCP 47 tag of its language.
        description: Human-readable description.
    """

    name: str
    espeak_voice: str
    language: str
    description: str


DEFAULT_ESPEAK_VOICES: tuple[EspeakVoiceSpec, ...] = (
    EspeakVoiceSpec("en-us", "en-us", "en-US", "espeak-ng American English"),
    EspeakVoiceSpec("en-gb", "en", "en-GB", "espeak-ng British English"),
    EspeakVoiceSpec("hr", "hr", "hr", "espeak-ng Croatian"),
    EspeakVoiceSpec("de", "de", "de", "espeak-ng German"),
    EspeakVoiceSpec("fr", "fr", "fr", "espeak-ng French"),
    EspeakVoiceSpec("es", "es", "es", "espeak-ng Spanish"),
    EspeakVoiceSpec("it", "it", "it", "espeak-ng Italian"),
)


@dataclass(frozen=True, slots=True)
class _Finished:
    """Marks the end of a synthesis in the producer queue; carries its error if any."""

    error: Exception | None = None


class EspeakEngine(TtsEngine):
    """Speech from the espeak-ng C library, streamed with phoneme and word timings.

    Args:
        voices: The voices to offer.
        rate_words_per_minute: Speaking rate (espeak-ng's default is 175).
        first_chunk_seconds: Most audio in the first chunk, so playback starts early.
        chunk_seconds: Most audio in every later chunk.
        library_path: Path of ``libespeak-ng``; the ``espeakng_loader`` wheel's by default.
        data_path: Path of ``espeak-ng-data``; the ``espeakng_loader`` wheel's by default.
    """

    def __init__(
        self,
        voices: Sequence[EspeakVoiceSpec] = DEFAULT_ESPEAK_VOICES,
        *,
        rate_words_per_minute: int = 175,
        first_chunk_seconds: float = 0.1,
        chunk_seconds: float = 0.5,
        library_path: str | None = None,
        data_path: str | None = None,
    ) -> None:
        self._specs = {spec.name: spec for spec in voices}
        self._rate = rate_words_per_minute
        self._first_chunk_seconds = first_chunk_seconds
        self._chunk_seconds = chunk_seconds
        self._library_path = library_path
        self._data_path = data_path
        self._library: EspeakLibrary | None = None
        self._errors: dict[str, str] = dict.fromkeys(self._specs, "not loaded yet")
        self._load_lock = threading.Lock()

    @property
    def sample_rate(self) -> int:
        """Sample rate of espeak-ng's audio (22050 Hz), once loaded."""
        return self._library.sample_rate if self._library is not None else 22050

    def voices(self) -> list[VoiceInfo]:
        """Returns the configured voices with their availability."""
        return [
            VoiceInfo(
                name=spec.name,
                engine=ENGINE_NAME,
                language=spec.language,
                sample_rate=self.sample_rate,
                supports_cloning=False,
                supports_streaming=True,
                has_timings=True,
                description=spec.description,
                available=not self._errors[spec.name],
                error=self._errors[spec.name],
            )
            for spec in self._specs.values()
        ]

    def load(self) -> None:
        """Loads the library, checks every voice and warms up with a short phrase."""
        with self._load_lock:
            if self._library is not None:
                return
            try:
                library = shared_library(self._library_path, self._data_path)
            except EspeakLibraryError as error:
                _LOGGER.error("espeak-ng cannot be loaded; its voices are unavailable: %s", error)
                self._errors = dict.fromkeys(self._specs, str(error))
                return
            for spec in self._specs.values():
                known = library.has_voice(spec.espeak_voice)
                self._errors[spec.name] = (
                    "" if known else f"espeak-ng has no voice {spec.espeak_voice!r}"
                )
                if not known:
                    _LOGGER.error("voice %s unavailable: %s", spec.name, self._errors[spec.name])
            self._library = library
        for spec in self._specs.values():
            if not self._errors[spec.name]:
                for _ in self.synthesize("Ready.", spec.name):
                    pass
                break

    def synthesize(
        self, text: str, voice: str, speaker_sample: bytes | None = None
    ) -> Iterator[SynthesisChunk]:
        """Speaks ``text``; see :meth:`TtsEngine.synthesize`.

        The arguments are checked at once, so errors raise from this call rather than from
        the first ``next()``.
        """
        spec = self._specs.get(voice)
        if spec is None:
            raise UnknownVoiceError(voice, sorted(self._specs))
        if speaker_sample:
            raise CloningNotSupportedError(f"voice {voice!r} cannot clone a speaker sample")
        if not text.strip():
            raise InvalidTextError("the text is empty")
        if self._library is None:
            self.load()
        if self._errors[voice] or self._library is None:
            raise VoiceUnavailableError(f"voice {voice!r} is unavailable: {self._errors[voice]}")
        return self._stream(self._library, text, spec.espeak_voice)

    def _stream(
        self, library: EspeakLibrary, text: str, espeak_voice: str
    ) -> Iterator[SynthesisChunk]:
        items: queue.Queue[tuple[np.ndarray, list[EspeakEvent]] | _Finished] = queue.Queue()
        stop = threading.Event()

        def on_audio(samples: np.ndarray, events: list[EspeakEvent]) -> bool:
            items.put((samples, events))
            return not stop.is_set()

        def produce() -> None:
            try:
                library.synthesize(text, espeak_voice, self._rate, on_audio)
            except Exception as error:  # handed to the consumer to raise
                items.put(_Finished(error))
            else:
                items.put(_Finished())

        producer = threading.Thread(target=produce, name="espeak-synthesis", daemon=True)
        producer.start()
        try:
            yield from self._assemble(items, text, library.sample_rate)
        finally:
            stop.set()
            producer.join()

    def _assemble(
        self,
        items: queue.Queue[tuple[np.ndarray, list[EspeakEvent]] | _Finished],
        text: str,
        sample_rate: int,
    ) -> Iterator[SynthesisChunk]:
        timings = EspeakTimingBuilder(text, sample_rate)
        chunker = StreamChunker(
            first_chunk_samples=max(1, int(self._first_chunk_seconds * sample_rate)),
            chunk_samples=max(1, int(self._chunk_seconds * sample_rate)),
            sample_rate=sample_rate,
        )
        while True:
            item = items.get()
            if isinstance(item, _Finished):
                if item.error is not None:
                    raise SynthesisError(f"espeak-ng failed: {item.error}") from item.error
                phonemes, words = timings.finish(chunker.total_samples)
                yield from chunker.finish(phonemes, words)
                return
            samples, events = item
            phonemes, words = timings.add(events)
            yield from chunker.add(samples, phonemes, words)


class StreamChunker:
    """Regroups audio of any buffer size into chunks: a short first one, then larger ones.

    Timings are held back until the chunk that contains their end is sent, so a receiver
    never gets a phoneme before the audio it describes.

    Args:
        first_chunk_samples: Most samples of the first chunk.
        chunk_samples: Most samples of every later chunk.
        sample_rate: Sample rate, to compare timing ends with sample counts.
    """

    def __init__(self, first_chunk_samples: int, chunk_samples: int, sample_rate: int) -> None:
        self._target = first_chunk_samples
        self._chunk_samples = chunk_samples
        self._sample_rate = sample_rate
        self._buffered: list[np.ndarray] = []
        self._buffered_count = 0
        self._sent_samples = 0
        self._phonemes: list[Phoneme] = []
        self._words: list[Word] = []

    @property
    def total_samples(self) -> int:
        """Samples received so far, sent or not."""
        return self._sent_samples + self._buffered_count

    def add(
        self, samples: np.ndarray, phonemes: list[Phoneme], words: list[Word]
    ) -> Iterator[SynthesisChunk]:
        """Takes new audio and timings; yields every chunk that is now complete.

        A chunk leaves only once audio beyond it exists, so :meth:`finish` always has audio
        to carry the last timings.
        """
        self._phonemes.extend(phonemes)
        self._words.extend(words)
        if len(samples):
            self._buffered.append(samples)
            self._buffered_count += len(samples)
        while self._buffered_count > self._target:
            yield self._take(self._target)
            self._target = self._chunk_samples

    def finish(self, phonemes: list[Phoneme], words: list[Word]) -> Iterator[SynthesisChunk]:
        """Yields the rest of the audio with every timing not sent yet."""
        self._phonemes.extend(phonemes)
        self._words.extend(words)
        if self._buffered_count or self._phonemes or self._words:
            yield self._take(self._buffered_count, release_all=True)

    def _take(self, count: int, release_all: bool = False) -> SynthesisChunk:
        joined = np.concatenate(self._buffered) if self._buffered else np.zeros(0, np.int16)
        chunk, rest = joined[:count], joined[count:]
        self._buffered = [rest] if len(rest) else []
        self._buffered_count = len(rest)
        self._sent_samples += len(chunk)
        end_seconds = self._sent_samples / self._sample_rate
        phonemes = [p for p in self._phonemes if release_all or p.end_seconds <= end_seconds]
        words = [w for w in self._words if release_all or w.end_seconds <= end_seconds]
        self._phonemes = self._phonemes[len(phonemes) :]
        self._words = self._words[len(words) :]
        return SynthesisChunk(samples=chunk, phonemes=tuple(phonemes), words=tuple(words))
