"""The microphone's way to the asr service, with a fake asr client: streams opened when
audio comes, ended when it stops, offsets rebased and times moved back to the
microphone's clock, problems posted once."""

from __future__ import annotations

import asyncio

import grpc

from avatar.asr.v1 import asr_pb2
from avatar.common.v1 import media_pb2
from avatar_gateway.converse import listen
from avatar_gateway.converse.echo import EchoGuard
from avatar_gateway.converse.listen import (
    HeardEvent,
    ListenSettings,
    VoiceInput,
    VoiceProblem,
)

RATE = 16_000


class FakeAsr:
    """Records each stream's requests; answers each audio chunk with a speech start at
    the chunk's time on the stream's clock."""

    def __init__(self) -> None:
        self.streams: list[list[asr_pb2.TranscribeRequest]] = []

    async def transcribe(self, requests, timeout):
        received: list[asr_pb2.TranscribeRequest] = []
        self.streams.append(received)
        async for request in requests:
            received.append(request)
            if request.HasField("audio"):
                started = asr_pb2.SpeechStarted(
                    utterance=len(received), time_seconds=request.audio.sample_offset / RATE
                )
                yield asr_pb2.TranscribeResponse(speech_started=started)


def _chunk(offset: int, samples: int = 320, rate: int = RATE) -> media_pb2.AudioChunk:
    return media_pb2.AudioChunk(pcm=bytes(2 * samples), sample_rate=rate, sample_offset=offset)


async def _until(condition, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    assert condition()


async def test_a_stream_opens_with_audio_ends_without_and_keeps_the_microphone_clock(
    monkeypatch,
):
    monkeypatch.setattr(listen, "IDLE_CLOSE_SECONDS", 0.2)
    asr, posted = FakeAsr(), []
    voice = VoiceInput(ListenSettings(language="en"), asr, EchoGuard(), posted.append)
    await voice.feed(_chunk(0), 0.0)
    await voice.feed(_chunk(320), 0.0)
    await _until(lambda: len(posted) == 2)
    await _until(lambda: voice.listener is not None and not voice.listener.accepting)
    # One second later on the microphone's clock, a new stream starts from 0.
    await voice.feed(_chunk(RATE), 0.0)
    await _until(lambda: len(posted) == 3)
    for task in voice.stop():
        task.cancel()

    first, second = asr.streams
    assert first[0].config.sample_rate == RATE and first[0].config.language == "en"
    assert [r.audio.sample_offset for r in first[1:3]] == [0, 320]
    assert first[-1].HasField("end")
    assert second[1].audio.sample_offset == 0
    times = [event.response.speech_started.time_seconds for event in posted]
    assert all(isinstance(event, HeardEvent) for event in posted)
    assert times == [0.0, 0.02, 1.0]


async def test_bad_audio_is_dropped_with_one_problem_a_second():
    asr, posted = FakeAsr(), []
    voice = VoiceInput(ListenSettings(), asr, EchoGuard(), posted.append)
    await voice.feed(_chunk(0, rate=0), 0.0)
    await voice.feed(media_pb2.AudioChunk(pcm=b"\x00", sample_rate=RATE), 0.0)
    assert len(posted) == 1 and isinstance(posted[0], VoiceProblem)
    assert posted[0].code == grpc.StatusCode.INVALID_ARGUMENT
    assert "sample_rate is required" in posted[0].message
    assert asr.streams == [] and voice.listener is None


async def test_without_an_asr_service_audio_is_refused_once():
    posted = []
    voice = VoiceInput(ListenSettings(), None, EchoGuard(), posted.append)
    for offset in range(0, 3200, 320):
        await voice.feed(_chunk(offset), 0.0)
    assert posted == [VoiceProblem(grpc.StatusCode.FAILED_PRECONDITION, listen.NO_ASR_MESSAGE)]
