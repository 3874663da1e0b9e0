"""The safety interceptor every server runs: long status messages are cut, bytes that are
not a message get INVALID_ARGUMENT, handlers that stream through context.write work, and no
status message carries an exception class name or a file-system path."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from avatar.tts.v1 import tts_pb2
from avatar_core.config import ServerConfig
from avatar_core.safety import MAX_DETAILS_CHARS, clean_details
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


async def _crash(request: tts_pb2.SynthesizeRequest, context) -> tts_pb2.ListVoicesResponse:
    open(f"/var/lib/avatar/avatars/{request.text}/photo", "rb")  # noqa: ASYNC230, SIM115


async def _crash_streaming(request: tts_pb2.SynthesizeRequest, context):
    yield tts_pb2.ListVoicesResponse()
    raise ValueError(f"bad value in avatars/{request.text}/meta.json")


async def _abort_with_insides(request: tts_pb2.SynthesizeRequest, context):
    await context.abort(
        grpc.StatusCode.FAILED_PRECONDITION,
        f"Unexpected <class 'json.decoder.JSONDecodeError'>: cannot read "
        f"/srv/data/{request.text}.json; the model at http://127.0.0.1:8000/v1 is fine",
    )


def _crashing_service(registry) -> Service:
    serializer = tts_pb2.ListVoicesResponse.SerializeToString
    deserializer = tts_pb2.SynthesizeRequest.FromString
    handler = grpc.method_handlers_generic_handler(
        "test.Crash",
        {
            "Unary": grpc.unary_unary_rpc_method_handler(
                _crash, request_deserializer=deserializer, response_serializer=serializer
            ),
            "Stream": grpc.unary_stream_rpc_method_handler(
                _crash_streaming, request_deserializer=deserializer, response_serializer=serializer
            ),
            "Abort": grpc.unary_unary_rpc_method_handler(
                _abort_with_insides,
                request_deserializer=deserializer,
                response_serializer=serializer,
            ),
        },
    )
    return Service(
        registrations=[("test.Crash", lambda server: server.add_generic_rpc_handlers((handler,)))]
    )


async def test_no_status_message_carries_an_exception_class_or_a_server_path(caplog):
    config = ServerConfig(service="tts", host="127.0.0.1", port=0, metrics_port=-1)
    payload = tts_pb2.SynthesizeRequest(text="0123456789abcdef").SerializeToString()
    async with (
        running_server(config, _crashing_service) as server,
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        errors = {}
        for method, call in (
            ("Unary", channel.unary_unary("/test.Crash/Unary")(payload, timeout=10)),
            ("Abort", channel.unary_unary("/test.Crash/Abort")(payload, timeout=10)),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
            errors[method] = caught.value
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in channel.unary_stream("/test.Crash/Stream")(payload, timeout=10):
                pass
        errors["Stream"] = caught.value
    for method in ("Unary", "Stream"):
        assert errors[method].code() == grpc.StatusCode.UNKNOWN
        assert errors[method].details() == (
            f"internal error in test.Crash/{method}; the server log has the details"
        )
    aborted = errors["Abort"]
    assert aborted.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert aborted.details() == (
        "Unexpected cannot read <path>; the model at http://127.0.0.1:8000/v1 is fine"
    )
    for error in errors.values():
        assert "Error" not in error.details() and "<class" not in error.details()
        assert "/var/lib" not in error.details() and "avatars/" not in error.details()
    # The server's log keeps what the caller was not told.
    logged = "\n".join(record.getMessage() + str(record.exc_info) for record in caplog.records)
    assert "FileNotFoundError" in logged and "test.Crash/Unary" in logged


@pytest.mark.parametrize(
    ("details", "cleaned"),
    [
        (
            "Unexpected <class 'FileNotFoundError'>: [Errno 2] No such file or directory: "
            "'avatars/0123456789abcdef/photo'",
            "Unexpected No such file or directory: '<path>'",
        ),
        ("PermissionError: cannot write ~/models/x.onnx", "cannot write <path>"),
        (
            "cannot reach http://10.0.0.5:8000/v1: refused",
            "cannot reach http://10.0.0.5:8000/v1: refused",
        ),
        ("llm at dns:///llm:50052 is down", "llm at dns:///llm:50052 is down"),
        ("voice en-us (en-US) reads Latin script", "voice en-us (en-US) reads Latin script"),
        (
            "image/jpeg, avatar.tts.v1.TtsService/en-us",
            "image/jpeg, avatar.tts.v1.TtsService/en-us",
        ),
        ("Error 111 connecting to 127.0.0.1:6379", "Error 111 connecting to 127.0.0.1:6379"),
    ],
)
def test_clean_details_keeps_what_a_caller_needs(details, cleaned):
    assert clean_details(details) == cleaned
