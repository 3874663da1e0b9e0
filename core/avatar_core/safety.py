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

Status messages are for callers, who have no business with the server's insides: a
handler that raises instead of aborting would make gRPC answer UNKNOWN with
``Unexpected <class 'FileNotFoundError'>: [Errno 2] No such file or directory:
'avatars/<id>/photo'``. The interceptor logs such an error with its traceback and
answers UNKNOWN "internal error in <method>; the server log has the details"; and
:func:`clean_details` takes exception class names and file-system paths out of every
message a handler sends (URLs and addresses stay).
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from avatar_core.handlers import HandlerInterceptor, MethodName, rewrap_handler

MAX_DETAILS_CHARS = 1000
"""Longest status message sent; longer ones are cut, well under header size limits."""

log = logging.getLogger(__name__)

_CLASS_REPR = re.compile(r"<class '[^']*'>:?\s*")
# Dotted or plain names of exception classes: FileNotFoundError, json.decoder.JSONDecodeError.
_EXCEPTION_NAME = re.compile(r"\b(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception)\b:?\s*")
_ERRNO = re.compile(r"\[Errno -?\d+\]\s*")
# An absolute path (/var/lib/x, ~/x): a slash that follows no name, host, port or scheme.
_ABSOLUTE_PATH = re.compile(r"(?<![\w:/.~-])~?/[\w.@+-]+(?:/[\w.@+-]*)*")
# A relative path of three parts or more (avatars/<id>/photo); "image/jpeg" is not one.
_RELATIVE_PATH = re.compile(r"(?<![\w:/.@-])(?:\.{1,2}/)*[\w.@+-]+(?:/[\w.@+-]+){2,}/?")
PATH_PLACEHOLDER = "<path>"


def clean_details(details: str) -> str:
    """A status message without exception class names, errno prefixes or file paths.

    URLs (``http://host:8000/v1``) and gRPC targets (``dns:///llm:50052``) are kept:
    they name a service the caller may need to know about.
    """
    details = _CLASS_REPR.sub("", details)
    details = _EXCEPTION_NAME.sub("", details)
    details = _ERRNO.sub("", details)
    details = _ABSOLUTE_PATH.sub(PATH_PLACEHOLDER, details)
    return _RELATIVE_PATH.sub(PATH_PLACEHOLDER, details)


def _safe_details(details: str) -> str:
    details = clean_details(details)
    if len(details) > MAX_DETAILS_CHARS:
        details = details[: MAX_DETAILS_CHARS - 3] + "..."
    return details


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


class _SafeDetailsContext:
    """A servicer context whose status messages are cleaned and cut; all else passes through."""

    def __init__(self, context: grpc.aio.ServicerContext) -> None:
        self._context = context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    async def abort(
        self, code: grpc.StatusCode, details: str = "", *args: Any, **kwargs: Any
    ) -> None:
        """Aborts the call, with ``details`` cleaned and cut to :data:`MAX_DETAILS_CHARS`."""
        await self._context.abort(code, _safe_details(details), *args, **kwargs)

    def set_details(self, details: str) -> None:
        """Sets the status message, cleaned and cut like :meth:`abort`'s."""
        self._context.set_details(_safe_details(details))


async def _abort_unexpected(
    error: Exception, method: MethodName, context: grpc.aio.ServicerContext
) -> None:
    """Logs a handler's unexpected error; answers UNKNOWN without its class or paths."""
    log.error("unexpected error in %s/%s", method.service, method.method, exc_info=error)
    await context.abort(
        grpc.StatusCode.UNKNOWN,
        f"internal error in {method.service}/{method.method}; the server log has the details",
    )


async def _checked_stream(
    requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
) -> AsyncIterator[Any]:
    async for request in requests:
        if isinstance(request, _Undecodable):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
        yield request


class SafetyInterceptor(HandlerInterceptor):
    """Undecodable requests get INVALID_ARGUMENT; status messages stay short and say
    nothing of the server's insides; unexpected errors are logged, not sent."""

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
                try:
                    async for response in behavior(
                        request_or_iterator, _SafeDetailsContext(context)
                    ):
                        yield response
                except grpc.aio.AbortError:
                    raise
                except Exception as error:
                    await _abort_unexpected(error, method, context)

            return wrapper

        def wrap_unary_out(behavior):
            async def wrapper(request_or_iterator, context):
                request_or_iterator = await checked(request_or_iterator, context)
                try:
                    return await behavior(request_or_iterator, _SafeDetailsContext(context))
                except grpc.aio.AbortError:
                    raise
                except Exception as error:
                    await _abort_unexpected(error, method, context)

            return wrapper

        return rewrap_handler(
            handler,
            wrap_unary_out,
            wrap_stream_out,
            request_deserializer=_safe_deserializer(handler.request_deserializer),
        )
