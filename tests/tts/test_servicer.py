"""The tts servicer against a real in-process gRPC server."""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from avatar.tts.v1 import tts_pb2, tts_pb2_grpc
from avatar_core.config import ServerConfig
from avatar_core.server import running_server
from avatar_tts.config import TtsConfig
from avatar_tts.engines.coqui_models import CoquiVoiceSpec
from avatar_tts.servicer import create_service
from tests.support.network import metric_value, scrape

ENGLISH = "Hi, how are you today?"


@pytest.fixture
async def server(tmp_path):
    missing = tmp_path / "missing.pth"
    config = TtsConfig(
        server=ServerConfig(service="tts", host="127.0.0.1", port=0, metrics_port=0),
        max_text_chars=300,
        coqui_voices=(CoquiVoiceSpec("broken", str(missing)),),
    )
    async with running_server(
        config.server, lambda registry: create_service(config, registry)
    ) as running:
        yield running


@pytest.fixture
async def stub(server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield tts_pb2_grpc.TtsServiceStub(channel)


async def _synthesize(stub, **fields) -> list[tts_pb2.SynthesizeResponse]:
    return [response async for response in stub.Synthesize(tts_pb2.SynthesizeRequest(**fields))]


def _pcm(responses) -> np.ndarray:
    parts = [np.frombuffer(r.audio.pcm, "<i2") for r in responses if r.HasField("audio")]
    return np.concatenate(parts)


async def test_health_is_serving_after_the_voices_loaded(server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        response = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="avatar.tts.v1.TtsService")
        )
    assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_synthesis_streams_started_audio_with_timings_then_end(stub):
    responses = await _synthesize(stub, text=ENGLISH)
    kinds = [r.WhichOneof("event") for r in responses]
    assert kinds[0] == "started" and kinds[-1] == "end"
    assert set(kinds[1:-1]) == {"audio", "timings"}
    assert [r.sequence for r in responses] == list(range(len(responses)))
    started, end = responses[0].started, responses[-1].end
    # The default voice is the neural one: hibari's heart, at 24 kHz.
    assert (started.voice, started.sample_rate, started.has_timings) == ("heart", 24000, True)
    offset = 0
    for response in responses:
        if response.HasField("audio"):
            assert response.audio.sample_offset == offset
            assert response.audio.sample_rate == 24000
            offset += len(response.audio.pcm) // 2
    assert end.total_samples == offset == len(_pcm(responses))
    assert end.duration_seconds == pytest.approx(offset / 24000)
    phonemes = [p for r in responses if r.HasField("timings") for p in r.timings.phonemes]
    words = [w.text for r in responses if r.HasField("timings") for w in r.timings.words]
    assert abs(phonemes[-1].end_seconds - end.duration_seconds) < 0.001
    assert words == ["Hi", "how", "are", "you", "today"]


async def test_croatian_text_gets_croatian_phonemes_and_audio(stub):
    responses = await _synthesize(stub, text="Dobar dan, kako ste danas?", voice="hr")
    assert responses[0].started.voice == "hr"
    audio = _pcm(responses)
    assert len(audio) > 22050 and np.abs(audio).max() > 1000  # over a second of real speech
    phonemes = [p for r in responses if r.HasField("timings") for p in r.timings.phonemes]
    symbols = [p.symbol for p in phonemes]
    assert "r" in symbols and "ɹ" not in symbols  # trilled, not the English r
    assert "o" in symbols and "oʊ" not in symbols  # pure vowels, no English diphthongs
    words = [w.text for r in responses if r.HasField("timings") for w in r.timings.words]
    assert words == ["Dobar", "dan", "kako", "ste", "danas"]
    assert abs(phonemes[-1].end_seconds - len(audio) / 22050) < 0.001


@pytest.mark.parametrize("voice", ["", "joe", "en-us"])
async def test_first_audio_chunk_is_at_most_200_ms(stub, voice):
    responses = await _synthesize(stub, text=ENGLISH * 3, voice=voice)
    first_audio = next(r.audio for r in responses if r.HasField("audio"))
    assert 0 < len(first_audio.pcm) // 2 <= 0.2 * first_audio.sample_rate


async def test_requested_sample_rate_resamples_the_audio(stub):
    native = await _synthesize(stub, text=ENGLISH, voice="hr")
    resampled = await _synthesize(stub, text=ENGLISH, voice="hr", sample_rate=16000)
    assert resampled[0].started.sample_rate == 16000
    assert {r.audio.sample_rate for r in resampled if r.HasField("audio")} == {16000}
    native_seconds = native[-1].end.duration_seconds
    assert resampled[-1].end.duration_seconds == pytest.approx(native_seconds, abs=0.02)
    assert np.abs(_pcm(resampled)).max() > 1000


async def test_list_voices_shows_what_really_loaded(stub):
    response = await stub.ListVoices(tts_pb2.ListVoicesRequest())
    voices = {voice.name: voice for voice in response.voices}
    assert response.default_voice == "heart"
    assert [name for name, voice in voices.items() if voice.is_default] == ["heart"]
    assert (voices["heart"].engine, voices["heart"].language) == ("hibari", "en-US")
    assert (voices["joe"].engine, voices["joe"].sample_rate) == ("piper", 22050)
    assert voices["heart"].available and voices["joe"].available
    assert voices["hr"].available and voices["hr"].engine == "espeak"
    assert voices["hr"].language == "hr" and voices["hr"].has_timings
    assert not voices["broken"].available and "not found" in voices["broken"].error
    assert voices["broken"].engine == "coqui"


@pytest.mark.parametrize(
    ("fields", "code", "message"),
    [
        ({"text": ""}, grpc.StatusCode.INVALID_ARGUMENT, "empty"),
        ({"text": " \n\t "}, grpc.StatusCode.INVALID_ARGUMENT, "empty"),
        ({"text": "a" * 301}, grpc.StatusCode.INVALID_ARGUMENT, "limit is 300"),
        ({"text": "Hi.", "sample_rate": 1000}, grpc.StatusCode.INVALID_ARGUMENT, "sample_rate"),
        (
            {"text": "Hi.", "voice": "nope"},
            grpc.StatusCode.NOT_FOUND,
            "unknown voice 'nope'; available voices: en-us, en-gb, hr, de, fr, es, it, heart, joe, "
            "broken",
        ),
        ({"text": "Hi.", "voice": "broken"}, grpc.StatusCode.FAILED_PRECONDITION, "not found"),
        (
            {"text": "Hi.", "speaker_sample": b"RIFF\x00\x00\x00\x00WAVE"},
            grpc.StatusCode.FAILED_PRECONDITION,
            "cannot clone",
        ),
    ],
)
async def test_bad_requests_get_clear_statuses(stub, fields, code, message):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _synthesize(stub, **fields)
    assert caught.value.code() == code
    assert message in caught.value.details()


async def test_cancelled_stream_leaves_the_server_working(stub):
    call = stub.Synthesize(tts_pb2.SynthesizeRequest(text="A long sentence. " * 17))
    first = await call.read()
    assert first.HasField("started")
    call.cancel()
    await asyncio.sleep(0.05)
    responses = await _synthesize(stub, text=ENGLISH)
    assert responses[-1].HasField("end")


async def test_metrics_count_audio_seconds(server, stub):
    responses = await _synthesize(stub, text=ENGLISH, voice="en-gb")
    samples = scrape(server.metrics_port)
    seconds = metric_value(samples, "avatar_tts_audio_seconds_total", voice="en-gb")
    assert seconds == pytest.approx(responses[-1].end.duration_seconds)
    assert metric_value(samples, "avatar_tts_time_to_first_chunk_seconds_count", voice="en-gb") == 1
