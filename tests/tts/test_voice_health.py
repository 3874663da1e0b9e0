"""Per-voice health: a voice whose checkpoint is corrupt or missing reports NOT_SERVING under
its own health-check name, with a clear log line, while the server and other voices serve."""

from __future__ import annotations

import logging

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

pytest.importorskip("TTS", reason="coqui-tts (the 'coqui' extra) is not installed")

from avatar.tts.v1 import tts_pb2, tts_pb2_grpc
from avatar_devtools.tiny_glowtts import build_tiny_glowtts
from avatar_tts.servicer import voice_health_name
from tests.support.services import in_process_server

pytestmark = pytest.mark.coqui
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture
async def server(tmp_path, caplog):
    good = build_tiny_glowtts(tmp_path / "good")
    corrupt = build_tiny_glowtts(tmp_path / "corrupt")
    # A download cut short: the checkpoint's first kilobyte only.
    corrupt.checkpoint_path.write_bytes(corrupt.checkpoint_path.read_bytes()[:1024])
    missing = tmp_path / "gone" / "model.pth"
    voices = (
        f"good={good.checkpoint_path}|{good.config_path};"
        f"corrupt={corrupt.checkpoint_path}|{corrupt.config_path};"
        f"missing={missing}|{good.config_path}"
    )
    caplog.set_level(logging.ERROR, logger="avatar_tts.servicer")
    environment = {"AVATAR_TTS_COQUI_VOICES": voices, "AVATAR_TTS_COQUI_DEVICE": "cpu"}
    async with in_process_server("tts", environment) as running:
        yield running


async def _health(port: int, service: str) -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        request = health_pb2.HealthCheckRequest(service=service)
        return (await health_pb2_grpc.HealthStub(channel).Check(request)).status


async def test_broken_voices_are_not_serving_and_the_rest_serve(server):
    assert await _health(server.port, "") == SERVING
    assert await _health(server.port, "avatar.tts.v1.TtsService") == SERVING
    for voice in ("good", "en-us", "hr"):
        assert await _health(server.port, voice_health_name(voice)) == SERVING
    for voice in ("corrupt", "missing"):
        assert await _health(server.port, f"avatar.tts.v1.TtsService/{voice}") == NOT_SERVING


async def test_each_broken_voice_gets_one_clear_log_line(server, caplog, tmp_path):
    lines = {
        voice: [
            record.getMessage()
            for record in caplog.get_records("setup")  # the server warmed up in the fixture
            if f"voice {voice!r}" in record.getMessage()
        ]
        for voice in ("corrupt", "missing", "good")
    }
    (corrupt,) = lines["corrupt"]
    assert "NOT_SERVING (health check avatar.tts.v1.TtsService/corrupt)" in corrupt
    assert "other voices keep serving" in corrupt
    assert f"cannot load {tmp_path / 'corrupt' / 'model.pth'}" in corrupt
    (missing,) = lines["missing"]
    assert f"model file not found: {tmp_path / 'gone' / 'model.pth'}" in missing
    assert lines["good"] == []


async def test_broken_voices_refuse_requests_and_others_speak(server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = tts_pb2_grpc.TtsServiceStub(channel)
        for voice in ("corrupt", "missing"):
            request = tts_pb2.SynthesizeRequest(text="Hello.", voice=voice)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                [response async for response in stub.Synthesize(request)]
            assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert f"voice {voice!r} is unavailable" in caught.value.details()
        for voice in ("good", "en-us"):
            request = tts_pb2.SynthesizeRequest(text="Still speaking.", voice=voice)
            responses = [response async for response in stub.Synthesize(request)]
            assert responses[-1].end.total_samples > 0
        listed = {v.name: v for v in (await stub.ListVoices(tts_pb2.ListVoicesRequest())).voices}
    assert not listed["corrupt"].available and "cannot load" in listed["corrupt"].error
    assert listed["good"].available and not listed["good"].error
