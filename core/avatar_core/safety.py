"""Keeps malformed requests from turning into UNKNOWN errors or oversized error messages.

gRPC Python deserialises each request message before the servicer sees it; bytes that
are not a valid message of the method's type (a client with other protos, a broken
proxy, a fuzzer) make the call fail with UNKNOWN and a stack trace in the log. The
:class:`SafetyInterceptor` wraps every method's deserialiser so that such bytes become
a placeholder and the call ends with INVALID_ARGUMENT naming the message type and what
is wrong - the client's mistake, said in words.

Error messages often quote what the client sent (a voice name, a phoneme). Status
details travel in HTTP/2 headers, which peers cap at a few kilobytes, so a quoted
megabyte would turn a clear INVALID_ARGUMENT into an opaque RESOURCE_EXHAUSTED at the
client. The interceptor shortens every abort message to :data:`MAX_DETAILS_CHARS`.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from avatar_core.handlers import HandlerInterceptor, MethodName, rewrap_handler

MAX_DETAILS_CHARS = 1000
"""Longest status message sent; longer ones are cut, well under header size limits."""


class _Undecodable:
    """Stands in for a request message whose bytes could not be parsed."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def _safe_deserializer(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any]:
    def deserialize(data: bytes) -> Any:
        if deserializer is None:
            return data
        try:
            return deserializer(data)
        except (DecodeError, UnicodeDecodeError, ValueError) as error:
            return _Undecodable(f"the request is not a valid protobuf message: {error}")

    return deserialize


class _ShortDetailsContext:
    """A servicer context whose ``abort`` cuts over-long messages; all else passes through."""

    def __init__(self, context: grpc.aio.ServicerContext) -> None:
        self._context = context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    async def abort(
        self, code: grpc.StatusCode, details: str = "", *args: Any, **kwargs: Any
    ) -> None:
        """Aborts the call, with ``details`` cut to :data:`MAX_DETAILS_CHARS`."""
        if len(details) > MAX_DETAILS_CHARS:
            details = details[: MAX_DETAILS_CHARS - 3] + "..."
        await self._context.abort(code, details, *args, **kwargs)


async def _checked_stream(
    requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
) -> AsyncIterator[Any]:
    async for request in requests:
        if isinstance(request, _Undecodable):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
        yield request


class SafetyInterceptor(HandlerInterceptor):
    """Undecodable requests get INVALID_ARGUMENT; abort messages stay short."""

    def wrap(
        self,
        handler: grpc.RpcMethodHandler,
        method: MethodName,
        call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        """Wraps the method's handler with a deserialiser that never raises."""

        async def checked(request_or_iterator: Any, context: grpc.aio.ServicerContext) -> Any:
            if handler.request_streaming:
                return _checked_stream(request_or_iterator, context)
            if isinstance(request_or_iterator, _Undecodable):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request_or_iterator.message)
            return request_or_iterator

        def wrap_stream_out(behavior):
            if not inspect.isasyncgenfunction(behavior):
                # Answers through context.write() (e.g. health Watch): a coroutine.
                return wrap_unary_out(behavior)

            async def wrapper(request_or_iterator, context):
                request_or_iterator = await checked(request_or_iterator, context)
                async for response in behavior(request_or_iterator, _ShortDetailsContext(context)):
                    yield response

            return wrapper

        def wrap_unary_out(behavior):
            async def wrapper(request_or_iterator, context):
                request_or_iterator = await checked(request_or_iterator, context)
                return await behavior(request_or_iterator, _ShortDetailsContext(context))

            return wrapper

        return rewrap_handler(
            handler,
            wrap_unary_out,
            wrap_stream_out,
            request_deserializer=_safe_deserializer(handler.request_deserializer),
        )
