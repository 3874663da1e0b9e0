"""The engine interface every speech engine implements, its data types and errors.

An engine turns text into mono int16 audio, streamed as :class:`SynthesisChunk` objects that
also carry the phonemes and words that became known with that chunk. Engines are plain Python
(no gRPC): the servicer converts their types to protos and their errors to status codes.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from avatar_core.timing import Phoneme, Word


class TtsError(Exception):
    """Base class of every error a speech engine raises on purpose."""


class UnknownVoiceError(TtsError):
    """The requested voice is not one the engine or registry knows.

    Attributes:
        voice: The name that was asked for.
        available: Names that would have been accepted.
    """

    def __init__(self, voice: str, available: Sequence[str]) -> None:
        self.voice = voice
        self.available = tuple(available)
        names = ", ".join(self.available) or "none"
        # The name is the client's: a long one must not blow up the error's metadata.
        shown = voice if len(voice) <= 64 else f"{voice[:64]}..."
        super().__init__(f"unknown voice {shown!r}; available voices: {names}")


class InvalidTextError(TtsError):
    """The text cannot be spoken: empty, only whitespace, or too long."""


class VoiceUnavailableError(TtsError):
    """The voice is configured but its model failed to load (the message says why)."""


class CloningNotSupportedError(TtsError):
    """A speaker sample was given to a voice that cannot clone voices."""


class InvalidSpeakerSampleError(TtsError):
    """The speaker sample is not audio that can be decoded, or is empty or too long."""


class SpeakerSampleRequiredError(TtsError):
    """The voice has no built-in speaker, so a request must bring a speaker sample."""


class SynthesisError(TtsError):
    """The engine failed while synthesising (a library or model error)."""


@dataclass(frozen=True, slots=True)
class VoiceInfo:
    """A voice and what it can do.

    Attributes:
        name: Name that requests use to pick the voice.
        engine: Engine behind it, e.g. ``"espeak"`` or ``"coqui"``.
        language: Main language as a BCP 47 tag, e.g. ``"en-US"``, ``"hr"``.
        sample_rate: Native sample rate of its audio, Hz.
        supports_cloning: Whether it takes a speaker sample.
        supports_streaming: Whether audio streams while synthesis runs (rather than a finished
            sentence being cut into chunks).
        has_timings: Whether its chunks carry phoneme timings.
        description: Human-readable description, e.g. the model name or path.
        available: Whether it is loaded and ready.
        error: Why it is not available; empty when it is.
    """

    name: str
    engine: str
    language: str
    sample_rate: int
    supports_cloning: bool = False
    supports_streaming: bool = False
    has_timings: bool = True
    description: str = ""
    available: bool = True
    error: str = ""


@dataclass(frozen=True, slots=True)
class SynthesisChunk:
    """A piece of synthesised speech plus the timings that became known with it.

    Attributes:
        samples: Mono int16 samples that follow the previous chunk's.
        phonemes: Phonemes newly known with this chunk; times are seconds from the start of
            the utterance, never beyond the end of the audio sent so far including this chunk.
        words: Words newly known with this chunk, timed the same way.
    """

    samples: np.ndarray
    phonemes: tuple[Phoneme, ...] = field(default_factory=tuple)
    words: tuple[Word, ...] = field(default_factory=tuple)


class TtsEngine(abc.ABC):
    """A speech engine: a set of voices that turn text into audio and timings.

    Implementations must be safe to call from several threads at once; :meth:`synthesize` is a
    blocking generator that the servicer runs in a worker thread.
    """

    @abc.abstractmethod
    def voices(self) -> list[VoiceInfo]:
        """Returns the voices of this engine, with their availability."""

    @abc.abstractmethod
    def load(self) -> None:
        """Loads models and warms the engine up; called once before the server takes requests.

        A voice that fails to load must be marked unavailable rather than raise, so the other
        voices keep working.
        """

    @abc.abstractmethod
    def synthesize(
        self, text: str, voice: str, speaker_sample: bytes | None = None
    ) -> Iterator[SynthesisChunk]:
        """Speaks ``text`` with ``voice``, yielding audio as soon as it exists.

        Args:
            text: What to say; already validated as non-empty.
            voice: Name of one of :meth:`voices`.
            speaker_sample: An encoded audio sample of the speaker to clone (WAV/MP3/OGG),
                only for voices that support cloning.

        Yields:
            Chunks of audio in order, each with the timings newly known with it.

        Raises:
            UnknownVoiceError: ``voice`` is not one of this engine's voices.
            VoiceUnavailableError: The voice failed to load.
            CloningNotSupportedError: A speaker sample was given to a voice that cannot clone.
            InvalidTextError: The engine cannot speak the text.
            SynthesisError: The engine failed.
        """


def split_samples(
    samples: np.ndarray, first_chunk_samples: int, chunk_samples: int
) -> Iterator[np.ndarray]:
    """Cuts a finished utterance into a short first chunk and larger following chunks.

    A short first chunk lets playback start early; larger later chunks keep the message count
    low.

    Args:
        samples: The whole utterance.
        first_chunk_samples: Most samples of the first chunk (at least 1).
        chunk_samples: Most samples of every later chunk (at least 1).

    Yields:
        Consecutive slices of ``samples`` that together cover it exactly.
    """
    position = 0
    size = max(1, first_chunk_samples)
    while position < len(samples):
        yield samples[position : position + size]
        position += size
        size = max(1, chunk_samples)
