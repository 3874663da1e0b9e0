"""RPC and service metrics: status codes of every ending, message counts, worker pools."""

from __future__ import annotations

import asyncio
import threading

import grpc
import pytest
from prometheus_client import CollectorRegistry

from avatar.enhancer.v1 import enhancer_pb2
from avatar_core.config import ServerConfig
from avatar_core.metrics import ServiceMetrics
from avatar_core.server import AvatarServer, Service
from tests.support.network import metric_value, scrape

SERVICE = "test.Echo"
ENHANCER = enhancer_pb2.DESCRIPTOR.services_by_name["EnhancerService"].full_name


async def _unary(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    if request == b"missing":
        await context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
    if request == b"crash":
        raise RuntimeError("unexpected")
    return request


async def _ticks(request: bytes, context: grpc.aio.ServicerContext):
    for _ in range(200):
        yield b"tick"
        await asyncio.sleep(0.02)


async def _echo(requests, context: grpc.aio.ServicerContext):
    async for request in requests:
        yield request


def _register(server: grpc.aio.Server) -> None:
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(_unary),
        "Ticks": grpc.unary_stream_rpc_method_handler(_ticks),
        "Echo": grpc.stream_stream_rpc_method_handler(_echo),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))


@pytest.fixture
async def echo_server():
    config = ServerConfig(service="echo", host="127.0.0.1", metrics_port=0)
    server = AvatarServer(config, lambda registry: Service([(SERVICE, _register)]))
    await server.start()
    yield server
    await server.stop(grace=0)


def _handled(samples, method: str, code: str) -> float:
    return metric_value(samples, "grpc_server_handled_total", grpc_method=method, grpc_code=code)


async def test_every_ending_of_a_call_is_counted_with_its_status_code(echo_server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{echo_server.port}") as channel:
        unary = channel.unary_unary(f"/{SERVICE}/Unary")
        assert await unary(b"hello") == b"hello"
        for request, code in ((b"missing", "NOT_FOUND"), (b"crash", "UNKNOWN")):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await unary(request)
            assert caught.value.code().name == code
        ticks = channel.unary_stream(f"/{SERVICE}/Ticks")
        call = ticks(b"")
        for _ in range(3):
            await call.read()
        call.cancel()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in ticks(b"", timeout=0.2):
                pass
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await asyncio.sleep(0.3)  # the server sees the cancel a moment after the client

    samples = scrape(echo_server.metrics_port)
    assert _handled(samples, "Unary", "OK") == 1
    assert _handled(samples, "Unary", "NOT_FOUND") == 1
    assert _handled(samples, "Unary", "UNKNOWN") == 1
    assert _handled(samples, "Ticks", "CANCELLED") == 1
    assert _handled(samples, "Ticks", "DEADLINE_EXCEEDED") == 1
    assert _handled(samples, "Ticks", "UNKNOWN") == 0
    started = metric_value(samples, "grpc_server_started_total", grpc_method="Ticks")
    assert started == 2
    assert metric_value(samples, "grpc_server_handling_seconds_count", grpc_method="Ticks") == 2


async def test_stream_messages_are_counted_both_ways(echo_server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{echo_server.port}") as channel:
        echo = channel.stream_stream(f"/{SERVICE}/Echo")

        async def five():
            for index in range(5):
                yield bytes([index])

        replies = [reply async for reply in echo(five())]
    assert len(replies) == 5
    samples = scrape(echo_server.metrics_port)
    labels = {"grpc_method": "Echo", "grpc_type": "bidi_stream"}
    assert metric_value(samples, "grpc_server_msg_received_total", **labels) == 5
    assert metric_value(samples, "grpc_server_msg_sent_total", **labels) == 5
    assert _handled(samples, "Echo", "OK") == 1


async def test_served_methods_have_every_code_at_zero_before_the_first_call():
    from avatar_enhancer.config import EnhancerConfig
    from avatar_enhancer.servicer import create_service

    config = EnhancerConfig(
        server=ServerConfig(service="enhancer", host="127.0.0.1", metrics_port=0)
    )
    server = AvatarServer(config.server, lambda registry: create_service(config, registry))
    await server.start()
    try:
        samples = scrape(server.metrics_port)
    finally:
        await server.stop(grace=0)
    codes = {
        dict(labels)["grpc_code"]: value
        for (name, labels), value in samples.items()
        if name == "grpc_server_handled_total" and dict(labels)["grpc_service"] == ENHANCER
    }
    assert set(codes) == {code.name for code in grpc.StatusCode}
    assert set(codes.values()) == {0.0}
    started = metric_value(samples, "grpc_server_started_total", grpc_method="Enhance")
    assert started == 0
    assert (
        "grpc_server_started_total",
        (
            ("grpc_method", "Enhance"),
            ("grpc_service", ENHANCER),
            ("grpc_type", "bidi_stream"),
        ),
    ) in samples
    assert metric_value(samples, "avatar_warm_up_seconds") > 0
    assert metric_value(samples, "avatar_model_load_seconds", model="opencv") > 0
    assert metric_value(samples, "process_resident_memory_bytes") > 0


def _gauge(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_worker_pool_reports_waiting_and_busy_jobs():
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry)
    pool = metrics.thread_pool("render", 2)
    release = threading.Event()
    running = threading.Semaphore(0)

    def job() -> None:
        running.release()
        release.wait(10)

    futures = [pool.submit(job) for _ in range(5)]
    for _ in range(2):
        assert running.acquire(timeout=5)
    try:
        assert _gauge(registry, "avatar_workers", pool="render") == 2
        assert _gauge(registry, "avatar_workers_busy", pool="render") == 2
        assert _gauge(registry, "avatar_queue_depth", pool="render") == 3
        assert futures[4].cancel()  # a job that never started leaves the queue too
        assert _gauge(registry, "avatar_queue_depth", pool="render") == 2
    finally:
        release.set()
    for future in futures[:4]:
        future.result(timeout=5)
    pool.shutdown(wait=True)
    assert _gauge(registry, "avatar_workers_busy", pool="render") == 0
    assert _gauge(registry, "avatar_queue_depth", pool="render") == 0


def test_model_load_time_is_recorded_only_when_the_load_succeeds():
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry)
    with metrics.loading("good"):
        threading.Event().wait(0.02)
    with pytest.raises(OSError), metrics.loading("broken"):
        raise OSError("weights missing")
    assert _gauge(registry, "avatar_model_load_seconds", model="good") >= 0.02
    assert registry.get_sample_value("avatar_model_load_seconds", {"model": "broken"}) is None
    metrics.count_lookup("faces", hit=True)
    metrics.count_lookup("faces", hit=False)
    metrics.count_lookup("faces", hit=True)
    assert _gauge(registry, "avatar_cache_lookups_total", cache="faces", result="hit") == 2
    assert _gauge(registry, "avatar_cache_lookups_total", cache="faces", result="miss") == 1
