"""Speech for the asr tests: sentences the tts service speaks, streams of them, and WER."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from avatar.asr.v1 import asr_pb2, asr_pb2_grpc
from avatar.common.v1 import media_pb2
from avatar.tts.v1 import tts_pb2, tts_pb2_grpc

# Sentences Whisper tiny.en hears right when the default voice says them.
SENTENCES = (
    "Glue the sheet to the dark blue background.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
)
CHUNK_SECONDS = 0.02
"""A real-time-sized chunk, as a microphone or WebRTC delivers them."""
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


@dataclass(frozen=True)
class Speech:
    """Audio of one sentence and where its voice is.

    Attributes:
        samples: int16 mono.
        sample_rate: Its rate.
        voiced_start: Seconds into ``samples`` where the voice begins (first loud sample).
        voiced_end: Seconds into ``samples`` where it ends (last loud sample).
    """

    samples: np.ndarray
    sample_rate: int
    voiced_start: float
    voiced_end: float


async def render(stub: tts_pb2_grpc.TtsServiceStub, text: str, sample_rate: int = 0) -> Speech:
    """Has the tts service speak ``text`` with its default voice."""
    request = tts_pb2.SynthesizeRequest(text=text, sample_rate=sample_rate)
    parts, rate = [], 0
    async for response in stub.Synthesize(request, timeout=60):
        if response.HasField("started"):
            rate = response.started.sample_rate
        elif response.HasField("audio"):
            parts.append(np.frombuffer(response.audio.pcm, "<i2"))
    samples = np.concatenate(parts).astype(np.int16)
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > 0.05 * np.abs(samples).max())
    return Speech(samples, rate, loud[0] / rate, loud[-1] / rate)


def silence(seconds: float, sample_rate: int) -> np.ndarray:
    """``seconds`` of digital silence."""
    return np.zeros(round(seconds * sample_rate), dtype=np.int16)


def requests(
    samples: np.ndarray,
    sample_rate: int,
    *,
    chunk_seconds: float = CHUNK_SECONDS,
    end: bool = True,
    **config,
) -> Iterator[asr_pb2.TranscribeRequest]:
    """config, the audio in chunks with their sample offsets, end."""
    yield asr_pb2.TranscribeRequest(
        config=asr_pb2.TranscribeConfig(sample_rate=sample_rate, **config)
    )
    step = max(1, round(chunk_seconds * sample_rate))
    for offset in range(0, len(samples), step):
        chunk = samples[offset : offset + step].astype("<i2").tobytes()
        yield asr_pb2.TranscribeRequest(
            audio=media_pb2.AudioChunk(pcm=chunk, sample_rate=sample_rate, sample_offset=offset)
        )
    if end:
        yield asr_pb2.TranscribeRequest(end=asr_pb2.TranscribeInputEnd())


async def transcribe(
    stub: asr_pb2_grpc.AsrServiceStub, stream: Iterator[asr_pb2.TranscribeRequest]
) -> list[asr_pb2.TranscribeResponse]:
    """Every response of one Transcribe call."""
    return [response async for response in stub.Transcribe(stream, timeout=120)]


def events(responses: list[asr_pb2.TranscribeResponse], kind: str) -> list:
    """The payloads of the responses of one kind (``final``, ``speech_started``...)."""
    return [getattr(r, kind) for r in responses if r.WhichOneof("event") == kind]


def words_of(text: str) -> list[str]:
    """Lower-case words without punctuation."""
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / words of the reference."""
    wanted, heard = words_of(reference), words_of(hypothesis)
    previous = list(range(len(heard) + 1))
    for i, word in enumerate(wanted, start=1):
        current = [i]
        for j, other in enumerate(heard, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other))
            )
        previous = current
    return previous[-1] / len(wanted)
