"""What the ONNX neural voices share: loading per voice, clause streaming and model timings.

A neural voice (:mod:`~avatar_tts.engines.hibari`, :mod:`~avatar_tts.engines.piper`) turns a
phoneme string into audio in one model run, and the model's own duration tensor says how many
output frames each input phoneme got. This base class does the rest the same way for both:

- text is read sentence by sentence, and each sentence as *pieces* of whole clauses: the
  first piece of an utterance is kept short (its first clause, when the sentence is long) so
  the first audio leaves early; later pieces are whole sentences, cut at clause punctuation
  only when they are longer than the model should see at once;
- each piece's durations become phonemes and words (:func:`tokens_to_timings`), fitted to
  the piece's audio and shifted to their place in the utterance;
- audio leaves in a short first chunk and larger ones after it (:class:`StreamChunker`), each
  timing with the chunk that contains its end.
"""

from __future__ import annotations

import abc
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from avatar_core.timing import Phoneme, Word
from avatar_tts.engines.base import (
    CloningNotSupportedError,
    InvalidTextError,
    SynthesisChunk,
    SynthesisError,
    TtsEngine,
    TtsError,
    UnknownVoiceError,
    VoiceInfo,
    VoiceUnavailableError,
)
from avatar_tts.engines.coqui_timing import TokenDuration, fit_to_duration, tokens_to_timings
from avatar_tts.engines.espeak import StreamChunker
from avatar_tts.engines.neural_timing import fit_pauses_to_audio, move_onset_time
from avatar_tts.engines.onnx_graph import OnnxModelError

FIRST_PIECE_CHARACTERS = 48
"""Longest first piece (phoneme characters, about 2.5 s of speech) when a sentence can be cut."""
PIECE_CHARACTERS = 400
"""Longest later piece: the length the models were trained on, about 20 s of speech."""
_WRITTEN_WORD = re.compile(r"\w+(?:['’-]\w+)*")
_CLAUSE_END = re.compile(r"(?<=[,;:—…])\s+")
_WARM_UP_TEXT = "Ready."


class NeuralVoiceSpec(Protocol):
    """What the base class reads from a voice's settings."""

    name: str
    language: str
    description: str


@dataclass(frozen=True, slots=True)
class SpokenPiece:
    """The model's output for one piece.

    Attributes:
        samples: Mono int16 audio.
        tokens: Every input token with the output frames the model gave it, in order.
        seconds_per_frame: Audio seconds per duration unit.
    """

    samples: np.ndarray
    tokens: list[TokenDuration]
    seconds_per_frame: float


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence as written and the phoneme pieces it is spoken in."""

    text: str
    pieces: list[str]


class NeuralEngine(TtsEngine):
    """Voices of one ONNX model family; subclasses load a voice and run it on phonemes.

    Args:
        voices: The voices to offer.
        first_chunk_seconds: Most audio in the first chunk, so playback starts early.
        chunk_seconds: Most audio in every later chunk.
    """

    engine_name = ""
    special_tokens: frozenset[str] = frozenset()

    def __init__(
        self,
        voices: Sequence[NeuralVoiceSpec],
        *,
        first_chunk_seconds: float = 0.1,
        chunk_seconds: float = 0.5,
    ) -> None:
        self._specs = {spec.name: spec for spec in voices}
        self._first_chunk_seconds = first_chunk_seconds
        self._chunk_seconds = chunk_seconds
        self._loaded: dict[str, Any] = {}
        self._errors: dict[str, str] = dict.fromkeys(self._specs, "not loaded yet")
        self._load_lock = threading.Lock()

    @abc.abstractmethod
    def _load_voice(self, spec: Any) -> Any:
        """Loads one voice; raises OnnxModelError, OSError or ValueError when it cannot."""

    @abc.abstractmethod
    def _sentences(self, voice: Any, text: str) -> Iterator[Sentence]:
        """Reads ``text`` as sentences of phoneme pieces (see :func:`split_pieces`)."""

    @abc.abstractmethod
    def _speak(self, voice: Any, phonemes: str) -> SpokenPiece:
        """Runs the model on one piece's phonemes."""

    @abc.abstractmethod
    def _sample_rate(self, spec: Any, voice: Any | None) -> int:
        """Sample rate of the voice's audio (its configured rate before it is loaded)."""

    def _language(self, spec: Any, voice: Any | None) -> str:
        """BCP 47 tag of the voice's language."""
        return spec.language

    def voices(self) -> list[VoiceInfo]:
        """Returns the configured voices with their availability."""
        return [
            VoiceInfo(
                name=spec.name,
                engine=self.engine_name,
                language=self._language(spec, self._loaded.get(spec.name)),
                sample_rate=self._sample_rate(spec, self._loaded.get(spec.name)),
                supports_cloning=False,
                # Each model run makes a whole piece (a sentence or its first clauses),
                # which is then cut into chunks.
                supports_streaming=False,
                has_timings=True,
                description=spec.description,
                available=not self._errors[spec.name],
                error=self._errors[spec.name],
            )
            for spec in self._specs.values()
        ]

    def load(self) -> None:
        """Loads and warms up every voice; one that fails is marked unavailable, with why."""
        with self._load_lock:
            for spec in self._specs.values():
                if spec.name in self._loaded:
                    continue
                try:
                    voice = self._load_voice(spec)
                    for _ in self._stream(voice, _WARM_UP_TEXT):
                        pass
                except (OnnxModelError, OSError, ValueError, TtsError) as error:
                    self._errors[spec.name] = str(error)
                    continue
                self._loaded[spec.name] = voice
                self._errors[spec.name] = ""

    def synthesize(
        self, text: str, voice: str, speaker_sample: bytes | None = None
    ) -> Iterator[SynthesisChunk]:
        """Speaks ``text``; see :meth:`TtsEngine.synthesize`. Arguments are checked at once."""
        if voice not in self._specs:
            raise UnknownVoiceError(voice, sorted(self._specs))
        if speaker_sample:
            raise CloningNotSupportedError(f"voice {voice!r} cannot clone a speaker sample")
        if not text.strip():
            raise InvalidTextError("the text is empty")
        if voice not in self._loaded and self._errors[voice] == "not loaded yet":
            self.load()
        loaded = self._loaded.get(voice)
        if loaded is None:
            raise VoiceUnavailableError(f"voice {voice!r} is unavailable: {self._errors[voice]}")
        return self._stream(loaded, text)

    def _stream(self, voice: Any, text: str) -> Iterator[SynthesisChunk]:
        rate = self._sample_rate(None, voice)
        chunker = StreamChunker(
            first_chunk_samples=max(1, int(self._first_chunk_seconds * rate)),
            chunk_samples=max(1, int(self._chunk_seconds * rate)),
            sample_rate=rate,
        )
        offset = 0.0
        word_count = 0
        for sentence in self._sentences(voice, text):
            names = _written_names(sentence, self.special_tokens)
            for piece in sentence.pieces:
                try:
                    spoken = self._speak(voice, piece)
                except TtsError:
                    raise
                except Exception as error:  # noqa: BLE001 - onnxruntime raises its own types
                    raise SynthesisError(f"{self.engine_name} synthesis failed: {error}") from error
                phonemes, words = self._timings(spoken, rate)
                phonemes = [_shifted(p, offset) for p in phonemes]
                named = []
                for word in words:
                    word_count += 1
                    # Numbered in the whole utterance when the written words do not pair up.
                    name = names.pop(0) if names else f"#{word_count}"
                    named.append(_shifted(word, offset, name))
                words = named
                offset += len(spoken.samples) / rate
                yield from chunker.add(spoken.samples, phonemes, words)
        yield from chunker.finish([], [])

    def _timings(self, spoken: SpokenPiece, sample_rate: int) -> tuple[list[Phoneme], list[Word]]:
        phonemes, words = tokens_to_timings(
            move_onset_time(spoken.tokens, self.special_tokens),
            seconds_per_frame=spoken.seconds_per_frame,
            special_tokens=self.special_tokens,
            tokens_are_phonemes=True,
            language="en",
            text="",
        )
        phonemes, words = fit_to_duration(phonemes, words, len(spoken.samples) / sample_rate)
        phonemes = fit_pauses_to_audio(phonemes, spoken.samples, sample_rate)
        return phonemes, _words_within(words, phonemes)


def _words_within(words: list[Word], phonemes: list[Phoneme]) -> list[Word]:
    """Words spanning from their first sound's start to their last sound's end, after the
    sounds' boundaries moved (a word's edges are its sounds' edges)."""
    sounds = [p for p in phonemes if p.symbol != "_"]
    fitted = []
    for word in words:
        inside = [
            p
            for p in sounds
            if p.start_seconds < word.end_seconds and p.end_seconds > word.start_seconds
        ]
        if inside:
            word = replace(
                word, start_seconds=inside[0].start_seconds, end_seconds=inside[-1].end_seconds
            )
        fitted.append(word)
    return fitted


def _written_names(sentence: Sentence, special_tokens: frozenset[str]) -> list[str]:
    """The sentence's written words, when they pair one to one with its spoken words."""
    written = _WRITTEN_WORD.findall(sentence.text)
    # Pieces are spoken apart, so a space between them keeps their edge words apart.
    joined = " ".join(sentence.pieces)
    tokens = [TokenDuration(symbol, 1.0) for symbol in joined]
    _, spoken = tokens_to_timings(
        tokens,
        seconds_per_frame=1.0,
        special_tokens=special_tokens,
        tokens_are_phonemes=True,
        language="en",
        text="",
    )
    return written if len(written) == len(spoken) else []


def _shifted(item: Any, offset: float, name: str | None = None) -> Any:
    changes: dict[str, Any] = {
        "start_seconds": item.start_seconds + offset,
        "end_seconds": item.end_seconds + offset,
    }
    if name is not None:
        changes["text"] = name
    return replace(item, **changes)


def split_pieces(phonemes: str, limit: int, *, cut_clauses: bool = True) -> list[str]:
    """Cuts a sentence's phonemes into pieces of whole clauses, each at most ``limit`` long.

    Clauses end at ``, ; : — …``. A clause longer than ``limit`` is cut between words when
    ``cut_clauses`` is true, else it stays one piece (a pause inside a clause sounds wrong,
    and a model takes more than ``limit`` when it must).

    Args:
        phonemes: One sentence's phoneme string, words separated by spaces.
        limit: Most characters of a piece.
        cut_clauses: Whether over-long clauses are cut between words.

    Returns:
        The pieces in order; together they hold every clause of ``phonemes``.
    """
    pieces: list[str] = []
    for clause in _CLAUSE_END.split(phonemes.strip()):
        parts = _cut_between_words(clause, limit) if cut_clauses else [clause]
        for part in parts:
            if pieces and len(pieces[-1]) + 1 + len(part) <= limit:
                pieces[-1] = f"{pieces[-1]} {part}"
            else:
                pieces.append(part)
    return [piece for piece in pieces if piece.strip()]


def _cut_between_words(clause: str, limit: int) -> list[str]:
    if len(clause) <= limit:
        return [clause]
    parts, current = [], ""
    for word in clause.split(" "):
        if current and len(current) + 1 + len(word) > limit:
            parts.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    return [*parts, current] if current else parts


def sentence_pieces(phonemes: str, first: bool) -> list[str]:
    """The pieces one sentence is spoken in.

    The utterance's first sentence, when long, gives its first clauses (up to
    :data:`FIRST_PIECE_CHARACTERS`) a piece of their own, so its audio leaves early; every
    other piece is as long as the model allows (:data:`PIECE_CHARACTERS`).
    """
    if not first or len(phonemes) <= FIRST_PIECE_CHARACTERS:
        return split_pieces(phonemes, PIECE_CHARACTERS)
    head, *rest = split_pieces(phonemes, FIRST_PIECE_CHARACTERS, cut_clauses=False)
    remainder = " ".join(rest)
    return [head, *split_pieces(remainder, PIECE_CHARACTERS)] if remainder else [head]


def float_to_int16(wave: np.ndarray) -> np.ndarray:
    """Converts float audio in [-1, 1] to int16, scaling down only what would clip."""
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    peak = float(np.max(np.abs(wave))) if wave.size else 0.0
    if peak > 1.0:
        wave = wave / peak
    return np.round(wave * 32767.0).astype(np.int16)
