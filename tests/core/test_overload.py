"""Overload: the call over a server's concurrency limit is refused at once with a retry hint.

Health checks do not count against the limit, refused calls never queue, and the
calls being served finish normally.
"""

from __future__ import annotations

import statistics
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from avatar.animator.v1 import animator_pb2, animator_pb2_grpc
from avatar.enhancer.v1 import enhancer_pb2, enhancer_pb2_grpc
from avatar.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from avatar.llm.v1 import llm_pb2, llm_pb2_grpc
from avatar.tts.v1 import tts_pb2, tts_pb2_grpc
from avatar_core.gate import RETRY_AFTER_KEY, RETRY_PUSHBACK_KEY
from tests.support.held_calls import HeldEnhance, HeldReflection
from tests.support.network import metric_value, scrape
from tests.support.services import in_process_server

LIMIT = 2
REFUSALS = 7


async def _consume(call) -> None:
    async for _ in call:
        pass


async def _refusal(call) -> tuple[grpc.aio.AioRpcError, float]:
    start = time.perf_counter()
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call
    return error.value, time.perf_counter() - start


async def _health(channel: grpc.aio.Channel) -> int:
    response = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(), timeout=5
    )
    return response.status


def _assert_refused_with_hint(error: grpc.aio.AioRpcError, retry_after_ms: str) -> None:
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"at most {LIMIT} calls at once" in error.details()
    assert f"retry in {retry_after_ms} ms" in error.details()
    trailers = dict(error.trailing_metadata())
    assert trailers[RETRY_PUSHBACK_KEY] == retry_after_ms
    assert trailers[RETRY_AFTER_KEY] == retry_after_ms


async def test_the_call_over_the_limit_is_refused_fast_and_the_served_streams_finish():
    environment = {
        "AVATAR_ENHANCER_MAX_CONCURRENT_RPCS": str(LIMIT),
        "AVATAR_ENHANCER_RETRY_AFTER_MS": "250",
    }
    async with (
        in_process_server("enhancer", environment) as server,
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        held = [HeldEnhance(channel) for _ in range(LIMIT)]
        assert [await stream.open() for stream in held] == ["started"] * LIMIT
        stub = enhancer_pb2_grpc.EnhancerServiceStub(channel)
        refusals = [
            await _refusal(_consume(stub.Enhance(iter([]), timeout=5))) for _ in range(REFUSALS)
        ]
        health_while_full = await _health(channel)
        full = scrape(server.metrics_port)
        finished = [await stream.finish() for stream in held]
        after = HeldEnhance(channel)
        after_events = [await after.open(), *await after.finish()]
        idle = scrape(server.metrics_port)

    for error, _ in refusals:
        _assert_refused_with_hint(error, "250")
    seconds = sorted(duration for _, duration in refusals)
    assert statistics.median(seconds) < 0.05, seconds
    assert seconds[-1] < 0.5, seconds
    assert health_while_full == health_pb2.HealthCheckResponse.SERVING
    assert finished == [["frames", "end"]] * LIMIT
    assert after_events == ["started", "frames", "end"]
    assert metric_value(full, "avatar_server_calls_in_flight") == LIMIT
    assert metric_value(idle, "avatar_server_calls_in_flight") == 0
    assert metric_value(idle, "avatar_server_rejected_calls_total", reason="overload") == REFUSALS
    handled = "grpc_server_handled_total"
    assert metric_value(idle, handled, grpc_code="RESOURCE_EXHAUSTED") == REFUSALS
    assert metric_value(idle, handled, grpc_method="Enhance", grpc_code="OK") == LIMIT + 1


def _probe(service: str, channel: grpc.aio.Channel):
    """One call of the service's own API, run to its end."""
    if service == "gateway":
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        return stub.ListAvatars(gateway_pb2.ListAvatarsRequest(), timeout=5)
    if service == "tts":
        return tts_pb2_grpc.TtsServiceStub(channel).ListVoices(
            tts_pb2.ListVoicesRequest(), timeout=5
        )
    if service == "animator":
        stub = animator_pb2_grpc.AnimatorServiceStub(channel)
        return stub.PrepareAvatar(animator_pb2.PrepareAvatarRequest(), timeout=5)
    if service == "llm":
        return _consume(llm_pb2_grpc.LlmServiceStub(channel).Chat(llm_pb2.ChatRequest(), timeout=5))
    stub = enhancer_pb2_grpc.EnhancerServiceStub(channel)
    return _consume(stub.Enhance(iter([enhancer_pb2.EnhanceRequest()]), timeout=5))


async def _code_of(call) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


@pytest.mark.parametrize("service", ["gateway", "llm", "tts", "animator", "enhancer"])
async def test_every_server_refuses_calls_over_its_limit(service, tmp_path):
    prefix = f"AVATAR_{service.upper()}_"
    environment = {
        f"{prefix}MAX_CONCURRENT_RPCS": str(LIMIT),
        "AVATAR_GATEWAY_AVATAR_DIR": str(tmp_path / "avatars"),
    }
    async with (
        in_process_server(service, environment) as server,
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        held = [HeldReflection(channel) for _ in range(LIMIT)]
        for stream in held:
            assert await stream.open()
        error, seconds = await _refusal(_probe(service, channel))
        health_while_full = await _health(channel)
        for stream in held:
            await stream.rest()
        code_after = await _code_of(_probe(service, channel))
    _assert_refused_with_hint(error, "1000")
    assert seconds < 0.5
    assert health_while_full == health_pb2.HealthCheckResponse.SERVING
    assert code_after != grpc.StatusCode.RESOURCE_EXHAUSTED
