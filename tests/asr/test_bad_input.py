"""Bad input to the asr service: clear statuses, no server error, and it keeps serving."""

from __future__ import annotations

import asyncio
import math

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from avatar.asr.v1 import asr_pb2
from avatar.common.v1 import media_pb2
from tests.asr.conftest import IDLE_TIMEOUT_SECONDS, MAX_STREAM_SECONDS
from tests.asr.speech import SENTENCES, events, render, requests, silence, word_error_rate
from tests.support.races import CLIENT_WRITE_RACE

pytestmark = pytest.mark.asyncio(loop_scope="session")

INVALID = grpc.StatusCode.INVALID_ARGUMENT
RATE = 16000
CONFIG = asr_pb2.TranscribeRequest(config=asr_pb2.TranscribeConfig(sample_rate=RATE))
END = asr_pb2.TranscribeRequest(end=asr_pb2.TranscribeInputEnd())


def _config(**fields) -> asr_pb2.TranscribeRequest:
    return asr_pb2.TranscribeRequest(config=asr_pb2.TranscribeConfig(**fields))


def _audio(seconds: float = 0.1, offset: int = 0, **fields) -> asr_pb2.TranscribeRequest:
    pcm = fields.pop("pcm", bytes(2 * round(seconds * RATE)))
    return asr_pb2.TranscribeRequest(
        audio=media_pb2.AudioChunk(pcm=pcm, sample_offset=offset, **fields)
    )


async def _outcome(asr, messages) -> tuple[grpc.StatusCode, str, list]:
    """Status, details and responses of one call; repeats a call lost to the client race."""
    for _ in range(5):
        responses = []
        try:
            async for response in asr.Transcribe(iter(messages), timeout=60):
                responses.append(response)
        except grpc.aio.AioRpcError as error:
            if (error.code(), error.details()) == CLIENT_WRITE_RACE:
                continue
            return error.code(), error.details() or "", responses
        return grpc.StatusCode.OK, "", responses
    raise AssertionError("every attempt hit the client write race")


def _server_errors(server) -> float:
    return sum(
        sample.value
        for family in server.registry.collect()
        for sample in family.samples
        if sample.name == "grpc_server_handled_total"
        and sample.labels["grpc_code"] in ("INTERNAL", "UNKNOWN")
    )


async def _assert_still_serving(asr, asr_server) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{asr_server.port}") as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="avatar.asr.v1.AsrService")
        )
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    code, details, responses = await _outcome(asr, [CONFIG, _audio(0.5), END])
    assert code == grpc.StatusCode.OK, details
    assert responses[-1].end.audio_seconds == pytest.approx(0.5)


CASES = [
    ("empty stream", [], INVALID, "empty stream: send config first"),
    ("audio before config", [_audio(), CONFIG, END], INVALID, "first message must be config"),
    ("config twice", [CONFIG, CONFIG, END], INVALID, "config sent twice"),
    ("empty message", [CONFIG, asr_pb2.TranscribeRequest(), END], INVALID, "empty message"),
    ("no sample rate", [_config(), END], INVALID, "sample_rate is required"),
    ("rate 4000 Hz", [_config(sample_rate=4000), END], INVALID, "8000-96000 Hz, got 4000"),
    ("rate 1 MHz", [_config(sample_rate=10**6), END], INVALID, "8000-96000 Hz, got 1000000"),
    (
        "chunk at another rate",
        [CONFIG, _audio(sample_rate=8000), END],
        INVALID,
        "audio chunk at 8000 Hz in a 16000 Hz stream",
    ),
    ("odd byte count", [CONFIG, _audio(pcm=b"\x01\x02\x03"), END], INVALID, "odd number of bytes"),
    (
        "overlapping audio",
        [CONFIG, _audio(0.2), _audio(0.1, offset=100), END],
        INVALID,
        "overlaps earlier audio (expected 3200)",
    ),
    (
        "audio beyond the stream limit",
        [CONFIG, _audio(offset=2**40), END],
        INVALID,
        f"stream longer than the {MAX_STREAM_SECONDS:g} s limit",
    ),
    (
        "a language tiny.en does not speak",
        [_config(sample_rate=RATE, language="hr"), END],
        INVALID,
        "language 'hr' is not one model tiny.en transcribes (en)",
    ),
    (
        "end of speech 50 ms",
        [_config(sample_rate=RATE, end_of_speech_ms=50), END],
        INVALID,
        "end_of_speech_ms must be 100-5000, got 50",
    ),
    (
        "speech threshold NaN",
        [_config(sample_rate=RATE, speech_threshold=math.nan), END],
        INVALID,
        "speech_threshold must be between 0.05 and 0.95",
    ),
    ("no end", [CONFIG, _audio()], INVALID, "stream closed without end"),
]


@pytest.mark.parametrize(("name", "messages", "code", "fragment"), CASES, ids=[c[0] for c in CASES])
async def test_bad_input_gets_a_clear_status(asr, asr_server, name, messages, code, fragment):
    errors = _server_errors(asr_server)
    status, details, _ = await _outcome(asr, messages)
    assert (status, fragment in details) == (code, True), f"{status.name}: {details}"
    assert _server_errors(asr_server) == errors
    await _assert_still_serving(asr, asr_server)


async def test_a_stream_without_audio_ends_with_nothing_heard(asr):
    code, details, responses = await _outcome(asr, [CONFIG, _audio(pcm=b""), END])
    assert code == grpc.StatusCode.OK, details
    kinds = [response.WhichOneof("event") for response in responses]
    assert kinds == ["started", "end"]
    assert responses[-1].end.utterances == 0 and responses[-1].end.audio_seconds == 0


async def test_garbage_bytes_are_noise_to_it_not_a_crash(asr, asr_server):
    # Bytes that are not PCM read as PCM all the same (every byte pair is a sample): loud
    # white noise, in which voice activity finds no speech.
    garbage = np.random.default_rng(7).bytes(2 * 3 * RATE)
    code, details, responses = await _outcome(asr, [CONFIG, _audio(pcm=garbage), END])
    assert code == grpc.StatusCode.OK, details
    assert not events(responses, "speech_started") and not events(responses, "final")
    assert responses[-1].end.audio_seconds == pytest.approx(3)
    await _assert_still_serving(asr, asr_server)


async def test_a_gap_in_the_offsets_is_silence_on_the_streams_clock(asr, tts):
    speech = await render(tts, SENTENCES[0])
    rate = speech.sample_rate
    chunks = list(requests(speech.samples, rate))
    # The speech is sent 2 s into the stream, after lost packets: the times say so.
    for chunk in chunks[1:-1]:
        chunk.audio.sample_offset += 2 * rate
    stream = [chunks[0], *list(requests(silence(0.5, rate), rate))[1:-1], *chunks[1:]]
    code, details, responses = await _outcome(asr, stream)
    assert code == grpc.StatusCode.OK, details
    (started,) = events(responses, "speech_started")
    assert started.time_seconds == pytest.approx(2 + speech.voiced_start, abs=0.15)
    (final,) = events(responses, "final")
    assert word_error_rate(SENTENCES[0], final.text) <= 0.1


async def _open_then_silent(first):
    for message in first:
        yield message
    await asyncio.sleep(3600)


async def test_a_stream_that_goes_quiet_without_end_times_out(asr, asr_server):
    errors = _server_errors(asr_server)
    responses = []
    call = asr.Transcribe(_open_then_silent([CONFIG, _audio(0.2)]), timeout=60)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        async for response in call:
            responses.append(response)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert f"no message for {IDLE_TIMEOUT_SECONDS:g} s" in raised.value.details()
    assert responses[0].HasField("started")
    assert _server_errors(asr_server) == errors
    await _assert_still_serving(asr, asr_server)


async def test_the_clients_deadline_ends_a_stream_with_no_end(asr, asr_server):
    call = asr.Transcribe(_open_then_silent([CONFIG, _audio(0.2)]), timeout=0.3)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        async for _ in call:
            pass
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await _assert_still_serving(asr, asr_server)


async def test_a_client_cancel_mid_speech_leaves_no_stream_or_task(asr, asr_server, tts):
    speech = await render(tts, SENTENCES[0])

    async def speaking_then_waiting():
        for request in list(requests(speech.samples, speech.sample_rate, end=False)):
            yield request
        await asyncio.sleep(3600)

    call = asr.Transcribe(speaking_then_waiting(), timeout=60)
    async for response in call:
        if response.HasField("speech_ended") or response.HasField("speech_started"):
            break
    call.cancel()
    for _ in range(100):
        in_flight = _metric(asr_server, "avatar_asr_streams_in_flight")
        tasks = [t for t in asyncio.all_tasks() if t.get_name().startswith("asr-")]
        if in_flight == 0 and not tasks:
            break
        await asyncio.sleep(0.05)
    assert (in_flight, tasks) == (0, [])
    await _assert_still_serving(asr, asr_server)


def _metric(server, name: str) -> float:
    return sum(
        sample.value
        for family in server.registry.collect()
        for sample in family.samples
        if sample.name == name
    )


async def test_bytes_that_are_not_a_request_message_get_invalid_argument(asr_server, asr):
    errors = _server_errors(asr_server)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{asr_server.port}") as channel:
        raw = channel.stream_stream("/avatar.asr.v1.AsrService/Transcribe")
        call = raw(iter([b"\xff\xff\xff\xff not protobuf"]), timeout=30)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            async for _ in call:
                pass
    assert raised.value.code() == INVALID
    assert "not a valid protobuf message" in raised.value.details()
    assert _server_errors(asr_server) == errors
    await _assert_still_serving(asr, asr_server)
