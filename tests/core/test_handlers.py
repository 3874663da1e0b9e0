"""The shared interceptor opening and the one-servicer service helper, on real servers."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from avatar.enhancer.v1 import enhancer_pb2, enhancer_pb2_grpc
from avatar_core.config import ServerConfig
from avatar_core.handlers import HandlerInterceptor, MethodName, rewrap_handler
from avatar_core.server import Service, create_service_with, running_server

ENHANCER = enhancer_pb2.DESCRIPTOR.services_by_name["EnhancerService"]
CONFIG = ServerConfig(service="test", host="127.0.0.1", port=0)


class _StartOnly(enhancer_pb2_grpc.EnhancerServiceServicer):
    """Answers every Enhance stream with ``started`` and ``end`` only."""

    async def Enhance(self, request_iterator, context):
        yield enhancer_pb2.EnhanceResponse(
            sequence=0, started=enhancer_pb2.EnhanceStarted(backend="none")
        )
        yield enhancer_pb2.EnhanceResponse(sequence=1, end=enhancer_pb2.EnhanceEnd())


class _Recorder(HandlerInterceptor):
    """Notes each method it wraps, and tags streamed answers with a backend name."""

    exempt_prefixes = ("/grpc.health.v1.Health/",)

    def __init__(self) -> None:
        self.methods: list[MethodName] = []

    def wrap(self, handler, method, call_details):
        self.methods.append(method)

        def tagged(behavior):
            async def wrapper(request, context):
                async for response in behavior(request, context):
                    if response.WhichOneof("event") == "started":
                        response.started.backend = "wrapped"
                    yield response

            return wrapper

        return rewrap_handler(handler, lambda behavior: behavior, tagged)


async def _enhance(port: int) -> list[enhancer_pb2.EnhanceResponse]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = enhancer_pb2_grpc.EnhancerServiceStub(channel)
        config = enhancer_pb2.EnhanceRequest(config=enhancer_pb2.EnhanceConfig())
        return [response async for response in stub.Enhance(iter([config]), timeout=5)]


async def _health(port: int, service: str) -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        response = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=5
        )
    return response.status


async def test_a_servicer_is_served_under_its_proto_name_and_closed_after_the_stop():
    closed = []
    warmed = []

    async def warm_up() -> None:
        warmed.append(True)

    def factory(registry) -> Service:
        return create_service_with(
            _StartOnly(),
            enhancer_pb2_grpc.add_EnhancerServiceServicer_to_server,
            ENHANCER,
            warm_up=warm_up,
            # A plain function, as a servicer's close() that stops its pool is.
            close=lambda: closed.append(True),
        )

    async with running_server(CONFIG, factory) as server:
        assert server.service_names == ["avatar.enhancer.v1.EnhancerService"]
        assert warmed == [True]
        assert await _health(server.port, ENHANCER.full_name) == (
            health_pb2.HealthCheckResponse.SERVING
        )
        responses = await _enhance(server.port)
        assert [response.WhichOneof("event") for response in responses] == ["started", "end"]
        assert closed == []
    assert closed == [True]


async def test_an_interceptor_wraps_named_methods_and_lets_exempt_ones_pass():
    recorder = _Recorder()

    def factory(registry) -> Service:
        return create_service_with(
            _StartOnly(),
            enhancer_pb2_grpc.add_EnhancerServiceServicer_to_server,
            ENHANCER,
            interceptors=[recorder],
        )

    async with running_server(CONFIG, factory) as server:
        responses = await _enhance(server.port)
        assert responses[0].started.backend == "wrapped"
        assert await _health(server.port, "") == health_pb2.HealthCheckResponse.SERVING
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            missing = channel.unary_unary("/avatar.enhancer.v1.EnhancerService/Missing")
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await missing(b"", timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
    # Health was exempt and the unknown method had no handler: only Enhance was wrapped.
    assert recorder.methods == [MethodName("avatar.enhancer.v1.EnhancerService", "Enhance")]


def test_a_method_path_splits_into_service_and_method():
    assert MethodName.parse("/avatar.tts.v1.TtsService/Synthesize") == MethodName(
        "avatar.tts.v1.TtsService", "Synthesize"
    )
