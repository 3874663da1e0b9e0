"""The neural voices through a real server: the default voice, per-voice health with broken
voice files, and a client that knows the service only through server reflection."""

from __future__ import annotations

import asyncio
import logging
import time

import grpc
import numpy as np
import pytest
from google.protobuf import descriptor_pool, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from tests.support.services import in_process_server
from tests.tts.neural_voices import joe_as_own_voice

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE = "avatar.tts.v1.TtsService"
# About five seconds of speech, not tuned on.
FIVE_SECONDS = (
    "A quiet harbour town wakes up slowly, as fishing boats return with the morning tide."
)


@pytest.fixture
async def server(tmp_path, caplog):
    own = joe_as_own_voice(tmp_path / "own")
    cut = joe_as_own_voice(tmp_path / "cut")
    cut.write_bytes(cut.read_bytes()[:200_000])
    caplog.set_level(logging.ERROR, logger="avatar_tts.servicer")
    environment = {
        "AVATAR_TTS_HIBARI_VOICES": f"heart,gone={tmp_path / 'gone.onnx'}",
        "AVATAR_TTS_PIPER_VOICES": f"joe; mine={own}; cut={cut}",
    }
    async with in_process_server("tts", environment) as running:
        yield running


async def _health(port: int, service: str) -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        request = health_pb2.HealthCheckRequest(service=service)
        return (await health_pb2_grpc.HealthStub(channel).Check(request)).status


async def test_broken_voice_files_are_not_serving_with_one_log_line_and_the_rest_serve(
    server, caplog, tmp_path
):
    assert await _health(server.port, SERVICE) == SERVING
    for voice in ("heart", "joe", "mine", "en-us", "hr"):
        assert await _health(server.port, f"{SERVICE}/{voice}") == SERVING, voice
    for voice in ("gone", "cut"):
        assert await _health(server.port, f"{SERVICE}/{voice}") == NOT_SERVING, voice
    messages = [record.getMessage() for record in caplog.get_records("setup")]
    (gone,) = [m for m in messages if "voice 'gone'" in m]
    assert f"NOT_SERVING (health check {SERVICE}/gone)" in gone
    assert f"cannot read {tmp_path / 'gone.onnx'}: No such file" in gone
    (cut,) = [m for m in messages if "voice 'cut'" in m]
    assert "(piper) is NOT_SERVING" in cut and "is not a usable ONNX model" in cut
    assert not [m for m in messages if "voice 'heart'" in m or "voice 'joe'" in m]


class ReflectedClient:
    """A client built only from what the server says about itself over reflection."""

    def __init__(self, channel: grpc.Channel) -> None:
        self._channel = channel
        pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
        self._service = pool.FindServiceByName(SERVICE)

    def message(self, method: str, **fields):
        descriptor = self._service.methods_by_name[method].input_type
        return message_factory.GetMessageClass(descriptor)(**fields)

    def call(self, method: str, request, streaming: bool):
        output = message_factory.GetMessageClass(self._service.methods_by_name[method].output_type)
        make = self._channel.unary_stream if streaming else self._channel.unary_unary
        return make(
            f"/{SERVICE}/{method}",
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=output.FromString,
        )(request, timeout=60)


def _reflected_session(port: int) -> dict:
    """Everything the acceptance criteria look at, asked for by a reflection-only client."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        client = ReflectedClient(channel)
        listed = client.call("ListVoices", client.message("ListVoices"), streaming=False)
        default = client.message("Synthesize", text="Hi, how are you today?")
        responses = list(client.call("Synthesize", default, streaming=True))
        started = time.perf_counter()
        long = list(
            client.call("Synthesize", client.message("Synthesize", text=FIVE_SECONDS), True)
        )
        elapsed = time.perf_counter() - started
        unknown = None
        try:
            list(
                client.call(
                    "Synthesize", client.message("Synthesize", text="Hi.", voice="nope"), True
                )
            )
        except grpc.RpcError as error:
            unknown = error
    return {
        "listed": listed,
        "responses": responses,
        "long": long,
        "elapsed": elapsed,
        "unknown": unknown,
    }


@pytest.mark.flaky(reruns=2)  # the real-time factor is a wall-clock measure on a shared CPU
async def test_a_reflection_only_client_gets_the_neural_voice_by_default(server):
    seen = await asyncio.to_thread(_reflected_session, server.port)
    listed = seen["listed"]
    (default,) = [voice for voice in listed.voices if voice.is_default]
    assert default.name == listed.default_voice == "heart"
    assert default.engine == "hibari" != "espeak" and default.available
    engines = {voice.name: voice.engine for voice in listed.voices}
    assert engines["joe"] == "piper" and engines["hr"] == "espeak"

    responses = seen["responses"]
    started = responses[0].started
    assert started.voice == "heart" and started.sample_rate >= 16000 and started.has_timings
    pcm = b"".join(r.audio.pcm for r in responses if r.WhichOneof("event") == "audio")
    audio_end = len(pcm) / 2 / started.sample_rate
    assert np.abs(np.frombuffer(pcm, "<i2")).max() > 3000
    ends = [
        p.end_seconds
        for r in responses
        if r.WhichOneof("event") == "timings"
        for p in r.timings.phonemes
    ]
    assert abs(max(ends) - audio_end) <= 0.05

    long = seen["long"]
    seconds = long[-1].end.duration_seconds
    assert 4.0 < seconds < 7.0
    assert seen["elapsed"] / seconds <= 0.1

    assert seen["unknown"].code() == grpc.StatusCode.NOT_FOUND
    assert "available voices: en-us" in seen["unknown"].details()
    assert "heart" in seen["unknown"].details() and "joe" in seen["unknown"].details()
