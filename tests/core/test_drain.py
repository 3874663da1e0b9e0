"""Graceful drain on SIGTERM, on real server processes.

With a stream in flight, SIGTERM turns health NOT_SERVING at once (health keeps
answering, so probes see it), new calls get UNAVAILABLE, the stream in flight
finishes normally, and the process exits with code 0 as soon as it has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from importlib import resources

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from avatar.gateway.v1 import gateway_pb2
from avatar_core.config import ServerConfig
from avatar_core.server import AvatarServer
from avatar_devtools.client import GatewayClient
from avatar_devtools.stack import LocalStack, StackPorts
from avatar_enhancer.config import EnhancerConfig
from avatar_enhancer.servicer import create_service
from tests.support.held_calls import HeldEnhance
from tests.support.network import free_ports, metric_value, scrape

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
PHOTO = (resources.files("avatar_devtools") / "assets" / "sample_face.jpg").read_bytes()
SIX_SENTENCES = (
    "Good morning everyone. Today we talk about the weather. The sky is clear and blue. "
    "A light breeze comes from the west. Tomorrow may bring some rain. Thank you for listening."
)


async def _health(address: str) -> int:
    async with grpc.aio.insecure_channel(address) as channel:
        response = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=2
        )
    return response.status


async def _wait_for_health(address: str, wanted: int, within: float) -> float:
    """Polls health until it says ``wanted``; returns how long that took."""
    start = time.monotonic()
    while time.monotonic() - start < within:
        status = None
        with contextlib.suppress(grpc.aio.AioRpcError):
            status = await _health(address)
        if status == wanted:
            return time.monotonic() - start
        await asyncio.sleep(0.02)
    pytest.fail(f"health at {address} did not become {wanted} within {within} s")


def _start_enhancer(port: int, metrics_port: int, log_path) -> subprocess.Popen:
    environment = {
        **os.environ,
        "AVATAR_ENHANCER_HOST": "127.0.0.1",
        "AVATAR_ENHANCER_PORT": str(port),
        "AVATAR_ENHANCER_METRICS_PORT": str(metrics_port),
        "AVATAR_ENHANCER_GRACE_SECONDS": "30",
    }
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "avatar_enhancer"],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


# A real process under SIGTERM, timed against the wall clock on a shared machine: one stalled
# run gets two more tries; a real regression fails all three.
@pytest.mark.flaky(reruns=2)
async def test_sigterm_drains_a_stream_in_flight_and_exits_zero(tmp_path):
    port, metrics_port = free_ports(2)
    address = f"127.0.0.1:{port}"
    process = _start_enhancer(port, metrics_port, tmp_path / "enhancer.log")
    try:
        await _wait_for_health(address, SERVING, within=60)
        async with (
            grpc.aio.insecure_channel(address) as channel,
            grpc.aio.insecure_channel(address) as second_channel,
        ):
            watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
            assert (await watch.read()).status == SERVING
            in_flight = HeldEnhance(channel)
            assert await in_flight.open() == "started"

            process.send_signal(signal.SIGTERM)
            seconds_to_not_serving = await _wait_for_health(address, NOT_SERVING, within=2)
            assert (await asyncio.wait_for(watch.read(), 2)).status == NOT_SERVING
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await HeldEnhance(second_channel).open()
            await asyncio.sleep(0.5)
            still_running = process.poll() is None

            finished_at = time.monotonic()
            events = await in_flight.finish()
            exit_code = await asyncio.to_thread(process.wait, 15)
            seconds_to_exit = time.monotonic() - finished_at
    finally:
        if process.poll() is None:
            process.kill()
    log = (tmp_path / "enhancer.log").read_text()
    assert seconds_to_not_serving < 0.5
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "shutting down" in refused.value.details()
    assert still_running, "the process exited while a stream was in flight"
    assert events == ["frames", "end"]
    assert exit_code == 0
    assert seconds_to_exit < 5, "the drain waited for the whole grace period"
    assert "draining: 1 calls in flight" in log and "enhancer stopped" in log


async def test_health_watchers_are_told_of_the_drain():
    config = EnhancerConfig(server=ServerConfig(service="enhancer", host="127.0.0.1", port=0))
    server = AvatarServer(config.server, lambda registry: create_service(config, registry))
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        # Watch answers through context.write(), not by yielding: every interceptor
        # must pass such handlers through, or the watch fails with UNKNOWN.
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
        first = await asyncio.wait_for(watch.read(), 5)
        stopping = asyncio.create_task(server.stop(grace=2))
        second = await asyncio.wait_for(watch.read(), 5)
        await stopping
    assert (first.status, second.status) == (SERVING, NOT_SERVING)


async def test_calls_still_running_when_the_grace_period_ends_are_cancelled(caplog):
    config = EnhancerConfig(server=ServerConfig(service="enhancer", host="127.0.0.1", port=0))
    server = AvatarServer(config.server, lambda registry: create_service(config, registry))
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stuck = HeldEnhance(channel)
        assert await stuck.open() == "started"
        start = time.monotonic()
        with caplog.at_level(logging.WARNING):
            await server.stop(grace=0.5)
        stop_seconds = time.monotonic() - start
        with pytest.raises(grpc.aio.AioRpcError) as cut:
            await stuck.finish()
    assert 0.4 < stop_seconds < 3
    assert cut.value.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)
    assert "1 calls still in flight after 0.5 s" in caplog.text


@pytest.mark.slow
async def test_sigterm_lets_the_gateway_finish_a_speak_with_its_downstream_calls(tmp_path):
    services = ["gateway", "llm", "tts", "animator", "enhancer"]
    ports = free_ports(10)
    stack_ports = StackPorts(
        grpc=dict(zip(services, ports[:5], strict=True)),
        metrics=dict(zip(services, ports[5:], strict=True)),
    )
    environment = {
        "AVATAR_GATEWAY_AVATAR_DIR": str(tmp_path / "avatars"),
        "AVATAR_GATEWAY_IDLE_CLIP_SECONDS": "1",
        "AVATAR_GATEWAY_GRACE_SECONDS": "60",
    }
    with LocalStack(stack_ports, environment, log_dir=tmp_path / "logs") as stack:
        stack.start(["tts", "animator", "gateway"])
        await asyncio.to_thread(stack.wait_until_serving, 120)
        gateway = stack.processes["gateway"]
        async with GatewayClient(stack.gateway_address) as client:
            avatar = await client.create_avatar(PHOTO)
            request = gateway_pb2.SpeakRequest(avatar_id=avatar.avatar_id, text=SIX_SENTENCES)
            speak = client.speak_stream(request, timeout=120)
            assert (await speak.read()).WhichOneof("event") == "started"

            synthesized_before = _handled(stack, "tts", "Synthesize")
            gateway.send_signal(signal.SIGTERM)
            seconds_to_not_serving = await _wait_for_health(
                stack.gateway_address, NOT_SERVING, within=2
            )
            async with GatewayClient(stack.gateway_address) as newcomer:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await newcomer.list_avatars()
            events = []
            while (event := await speak.read()) is not grpc.aio.EOF:
                events.append(event)
            exit_code = await asyncio.to_thread(gateway.wait, 30)
        synthesized_during_drain = _handled(stack, "tts", "Synthesize") - synthesized_before

    sentences = [e.sentence.text for e in events if e.WhichOneof("event") == "sentence"]
    assert seconds_to_not_serving < 0.5
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert len(sentences) == 6 and sentences[-1] == "Thank you for listening."
    assert events[-1].WhichOneof("event") == "summary"
    assert events[-1].summary.sentences == 6
    assert synthesized_during_drain >= 4, "the gateway made no downstream calls while draining"
    assert exit_code == 0


def _handled(stack: LocalStack, service: str, method: str) -> float:
    samples = scrape(stack.ports.metrics[service])
    return metric_value(samples, "grpc_server_handled_total", grpc_method=method)
