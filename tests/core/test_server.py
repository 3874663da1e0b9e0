"""The shared bootstrap: health before and after warm-up, drain on stop, config errors."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from avatar.common.v1 import media_pb2
from avatar.enhancer.v1 import enhancer_pb2, enhancer_pb2_grpc
from avatar_core.config import ConfigError, ServerConfig
from avatar_core.frames import encode_frame
from avatar_core.server import AvatarServer, Service
from avatar_enhancer.config import EnhancerConfig
from avatar_enhancer.servicer import create_service
from tests.support.network import free_ports

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _config() -> EnhancerConfig:
    return EnhancerConfig(server=ServerConfig(service="enhancer", host="127.0.0.1", port=0))


async def _health(port: int) -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        response = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=2
        )
    return response.status


async def test_health_is_not_serving_until_warm_up_finishes():
    warm = asyncio.Event()
    release = asyncio.Event()

    def factory(registry):
        service = create_service(_config(), registry)

        async def warm_up():
            warm.set()
            await release.wait()

        return Service(registrations=service.registrations, warm_up=warm_up, close=service.close)

    server = AvatarServer(_config().server, factory)
    starting = asyncio.create_task(server.start())
    await warm.wait()
    assert await _health(server.port) == NOT_SERVING
    release.set()
    await starting
    assert await _health(server.port) == SERVING
    await server.stop(grace=0)


async def test_stop_drains_in_flight_streams_and_refuses_new_calls():
    server = AvatarServer(_config().server, lambda registry: create_service(_config(), registry))
    await server.start()
    frame = encode_frame(np.full((32, 32, 3), 128, np.uint8), 0)
    outbox: asyncio.Queue = asyncio.Queue()

    async def requests():
        while (message := await outbox.get()) is not None:
            yield message

    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = enhancer_pb2_grpc.EnhancerServiceStub(channel)
        call = stub.Enhance(requests())
        await outbox.put(enhancer_pb2.EnhanceRequest(config=enhancer_pb2.EnhanceConfig()))
        assert (await call.read()).WhichOneof("event") == "started"
        stopping = asyncio.create_task(server.stop(grace=5))
        await asyncio.sleep(0.2)
        assert await _health_or_unavailable(server.port) in (NOT_SERVING, "unavailable")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Enhance(iter([])).read()
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        await outbox.put(enhancer_pb2.EnhanceRequest(frames=media_pb2.FrameBatch(frames=[frame])))
        await outbox.put(enhancer_pb2.EnhanceRequest(end=enhancer_pb2.EnhanceInputEnd()))
        await outbox.put(None)
        rest = []
        while (response := await call.read()) is not grpc.aio.EOF:
            rest.append(response)
        await stopping
    assert [r.WhichOneof("event") for r in rest] == ["frames", "end"]
    assert rest[-1].end.frames == 1


async def _health_or_unavailable(port: int):
    try:
        return await _health(port)
    except grpc.aio.AioRpcError as error:
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        return "unavailable"


def test_sigterm_stops_a_server_process_with_exit_code_zero():
    port, metrics_port = free_ports(2)
    environment = {
        **os.environ,
        "AVATAR_ENHANCER_HOST": "127.0.0.1",
        "AVATAR_ENHANCER_PORT": str(port),
        "AVATAR_ENHANCER_METRICS_PORT": str(metrics_port),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "avatar_enhancer"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(100):
            if asyncio.run(_health_or_unavailable(port)) == SERVING:
                break
            asyncio.run(asyncio.sleep(0.1))
        else:
            pytest.fail("the enhancer did not become SERVING")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert b"stopped" in process.stdout.read()


def test_a_bad_setting_fails_at_start_naming_the_variable():
    with pytest.raises(ConfigError, match="AVATAR_TTS_PORT"):
        ServerConfig.from_env("tts", {"AVATAR_TTS_PORT": "fifty"})
    with pytest.raises(ConfigError, match="AVATAR_GATEWAY_MAX_CONCURRENT_RPCS"):
        ServerConfig.from_env("gateway", {"AVATAR_GATEWAY_MAX_CONCURRENT_RPCS": "0"})
    production = ServerConfig.from_env("gateway", {"AVATAR_PRODUCTION": "true"})
    assert production.reflection is False


def test_a_bad_setting_stops_the_process_with_a_clear_message():
    environment = {**os.environ, "AVATAR_ENHANCER_PORT": "not-a-port"}
    result = subprocess.run(
        [sys.executable, "-m", "avatar_enhancer"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "AVATAR_ENHANCER_PORT='not-a-port' is not a whole number" in result.stderr
