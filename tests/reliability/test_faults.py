"""Faults: a service killed mid-stream, then restarted; a voice whose model cannot load.

The five services run as processes (``LocalStack``). Killing one with SIGKILL while a
Speak streams must end that stream with UNAVAILABLE naming the stage, within seconds,
not hang it; once the service is started again the next request succeeds through the
same gateway, which was never restarted.
"""

from __future__ import annotations

import asyncio
import signal
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2

from avatar.gateway.v1 import gateway_pb2
from avatar_devtools.client import GatewayClient
from avatar_devtools.stack import LocalStack, StackPorts
from benchmarks.local_stack import running_stack
from tests.enhancer.restoration_models import gfpgan_layout
from tests.reliability.harness import health_status
from tests.reliability.inputs import LONG_TEXT
from tests.support.network import free_ports

pytestmark = pytest.mark.slow

CHAT = gateway_pb2.SPEAK_MODE_CHAT
HIGH = gateway_pb2.QUALITY_HIGH
# What to ask so that the killed service is busy, and which stage the error must name. High
# quality sends every frame through the enhancer when it has a restoration model (the
# module's stack has a tiny one); with the OpenCV backend only the avatar's still goes there.
SCENARIOS = {
    "tts": ({}, "tts stage"),
    "animator": ({}, "animator stage"),
    "enhancer": ({"quality": HIGH}, "enhancer stage"),
    "llm": ({"mode": CHAT}, "llm stage"),
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("faults")
    model = gfpgan_layout(work / "tiny_gfpgan.onnx")
    environment = {"AVATAR_ENHANCER_MODEL": str(model), "AVATAR_ENHANCER_BACKEND": "onnx"}
    # A slow model: the answer streams for seconds, so the llm call is open when killed.
    with running_stack(work, environment, llm_chunk_delay=0.05) as running:
        yield running


async def _kill_while_speaking(
    stack, service: str, fields: dict
) -> tuple[grpc.StatusCode, str, float]:
    """Speaks the long text, SIGKILLs ``service`` once media flows; returns how the call ended."""
    request = gateway_pb2.SpeakRequest(avatar_id=stack.avatar_id, text=LONG_TEXT, **fields)
    killed_at = None
    async with GatewayClient(stack.stack.gateway_address) as client:
        try:
            async for event in client.speak_stream(request, timeout=60):
                if killed_at is None and event.WhichOneof("event") in ("frames", "sentence"):
                    stack.stack.processes[service].send_signal(signal.SIGKILL)
                    killed_at = time.perf_counter()
        except grpc.aio.AioRpcError as error:
            return error.code(), error.details(), time.perf_counter() - killed_at
    raise AssertionError("the stream ended normally although its service was killed")


async def _speak_ok(stack, fields: dict) -> int:
    request = gateway_pb2.SpeakRequest(avatar_id=stack.avatar_id, text="Back again.", **fields)
    async with GatewayClient(stack.stack.gateway_address) as client:
        result = await client.speak(request, timeout=60)
    return result.frames


@pytest.mark.parametrize("service", list(SCENARIOS))
async def test_a_killed_service_gives_unavailable_naming_its_stage_then_recovers(stack, service):
    fields, stage = SCENARIOS[service]
    gateway_pid = stack.pid("gateway")
    code, details, seconds = await _kill_while_speaking(stack, service, fields)
    assert code == grpc.StatusCode.UNAVAILABLE, details
    assert details.startswith(stage), details
    assert seconds < 10
    stack.stack.processes[service].wait()

    stack.stack.start_service(service)
    await asyncio.to_thread(stack.stack.wait_until_serving, 120)
    assert await _speak_ok(stack, fields) > 0
    assert stack.pid("gateway") == gateway_pid  # the same gateway process throughout


async def test_a_killed_gateway_gives_unavailable_and_serves_again_after_restart(stack):
    request = gateway_pb2.SpeakRequest(avatar_id=stack.avatar_id, text=LONG_TEXT)
    async with GatewayClient(stack.stack.gateway_address) as client:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for event in client.speak_stream(request, timeout=60):
                if event.frames.frames:
                    stack.stack.processes["gateway"].send_signal(signal.SIGKILL)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        stack.stack.processes["gateway"].wait()
        stack.stack.start_service("gateway")
        await asyncio.to_thread(stack.stack.wait_until_serving, 120)
        # The same client channel reconnects to the new process.
        result = await client.speak(
            gateway_pb2.SpeakRequest(avatar_id=stack.avatar_id, text="Back again."), timeout=60
        )
    assert result.frames > 0


async def test_a_voice_whose_model_cannot_load_is_not_serving_and_the_process_stays_up(tmp_path):
    grpc_port, metrics_port = free_ports(2)
    voices = f"broken={tmp_path / 'missing.pth'}|{tmp_path / 'missing.json'}"
    stack = LocalStack(
        StackPorts(grpc={"tts": grpc_port}, metrics={"tts": metrics_port}),
        {"AVATAR_TTS_COQUI_VOICES": voices, "AVATAR_TTS_COQUI_DEVICE": "cpu"},
        log_dir=tmp_path / "logs",
    )
    with stack:
        stack.start(["tts"])
        await asyncio.to_thread(stack.wait_until_serving, 120)
        address = stack.address("tts")
        serving = health_pb2.HealthCheckResponse.SERVING
        assert await health_status(address) == serving
        assert await health_status(address, "avatar.tts.v1.TtsService/en-us") == serving
        broken = await health_status(address, "avatar.tts.v1.TtsService/broken")
        assert broken == health_pb2.HealthCheckResponse.NOT_SERVING
        await asyncio.sleep(1.0)
        assert stack.processes["tts"].poll() is None  # no crash, so no crash loop
    log = (tmp_path / "logs" / "tts.log").read_text()
    lines = [line for line in log.splitlines() if "'broken'" in line and "NOT_SERVING" in line]
    assert len(lines) == 1 and "missing.pth" in lines[0], log[-2000:]
