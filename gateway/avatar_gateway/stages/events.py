"""The typed events that travel between the Speak stages.

    sentences ──SentenceText──► tts ──SentenceSpeech──► animator ──SpeakResponse──► client
                                                           └──FrameBatch──► enhancer ──┘

Audio chunks, timing tracks and frame batches stay the protos they arrive as: wrapping
them would copy audio and frames for nothing. Every queue ends with :data:`END`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Final

from avatar.common.v1 import media_pb2


class EndOfStream:
    """The last item on a queue: the stage before has nothing more to send."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "END"


END: Final = EndOfStream()


@dataclass(frozen=True, slots=True)
class SentenceText:
    """One sentence to speak.

    Attributes:
        index: Position of the sentence in the request, from 0.
        text: The sentence.
        from_llm: Whether the LLM wrote it.
    """

    index: int
    text: str
    from_llm: bool


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """TTS began a sentence's audio.

    Attributes:
        sample_rate: Samples per second of the audio that follows.
        has_timings: Whether the voice times its speech: each audio chunk is followed
            by the timings of its phonemes.
    """

    sample_rate: int
    has_timings: bool = False


SpeechPart = SpeechStarted | media_pb2.AudioChunk | media_pb2.TimingTrack
"""What TTS sends for a sentence: :class:`SpeechStarted` first, then audio and timings."""


def _speech_parts() -> asyncio.Queue[SpeechPart | EndOfStream]:
    # Bounded so a sentence far ahead of the animator cannot pile up its whole audio.
    return asyncio.Queue(maxsize=256)


@dataclass(slots=True)
class SentenceSpeech:
    """One sentence on its way from TTS to the animator, while TTS still speaks it.

    Attributes:
        sentence: The sentence.
        parts: Its speech parts in order, then :data:`END`.
        timings: Every timing piece received so far.
        synthesized: Set when TTS has sent everything.
    """

    sentence: SentenceText
    parts: asyncio.Queue[SpeechPart | EndOfStream] = field(default_factory=_speech_parts)
    timings: media_pb2.TimingTrack = field(default_factory=media_pb2.TimingTrack)
    synthesized: asyncio.Event = field(default_factory=asyncio.Event)
