"""The safety interceptor every server runs: long status messages are cut, bytes that are
not a message get INVALID_ARGUMENT, and handlers that stream through context.write work."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from avatar.tts.v1 import tts_pb2
from avatar_core.config import ServerConfig
from avatar_core.safety import MAX_DETAILS_CHARS
from avatar_core.server import Service, running_server

METHOD = "/test.Echo/Refuse"


async def _refuse(request: tts_pb2.SynthesizeRequest, context) -> tts_pb2.ListVoicesResponse:
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"cannot say {request.text!r}")


def _service(registry) -> Service:
    handler = grpc.method_handlers_generic_handler(
        "test.Echo",
        {
            "Refuse": grpc.unary_unary_rpc_method_handler(
                _refuse,
                request_deserializer=tts_pb2.SynthesizeRequest.FromString,
                response_serializer=tts_pb2.ListVoicesResponse.SerializeToString,
            )
        },
    )
    return Service(
        registrations=[("test.Echo", lambda server: server.add_generic_rpc_handlers((handler,)))]
    )


async def _call(port: int, payload: bytes) -> grpc.aio.AioRpcError:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            await channel.unary_unary(METHOD)(payload, timeout=10)
        except grpc.aio.AioRpcError as error:
            return error
    raise AssertionError("the call succeeded")


async def test_long_messages_are_cut_and_garbage_is_invalid_argument():
    config = ServerConfig(service="tts", host="127.0.0.1", port=0, metrics_port=-1)
    async with running_server(config, _service) as server:
        long_text = tts_pb2.SynthesizeRequest(text="x" * 100_000).SerializeToString()
        error = await _call(server.port, long_text)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert len(error.details()) == MAX_DETAILS_CHARS
        assert error.details().startswith("cannot say 'xxx") and error.details().endswith("...")

        error = await _call(server.port, b"\xff\xff\xff")
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not a valid protobuf message" in error.details()

        # Health's Watch answers through context.write(), not a generator: it still works.
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
            first = await watch.read()
            watch.cancel()
        assert first.status == health_pb2.HealthCheckResponse.SERVING
