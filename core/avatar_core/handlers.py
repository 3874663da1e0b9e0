"""Building blocks of server interceptors: the common opening, and handler rewrapping.

Every interceptor of ours starts the same way: get the method's handler, let unknown
methods and exempt ones (health checks, reflection) through untouched, and learn the
called service and method from the ``/package.Service/Method`` path.
:class:`HandlerInterceptor` does that once; :func:`rewrap_handler` rebuilds a handler
around wrapped behaviour, whatever the method's kind.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc

Behavior = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class MethodName:
    """The service and method a call names.

    Attributes:
        service: Full service name, e.g. ``avatar.tts.v1.TtsService``.
        method: Method name, e.g. ``Synthesize``.
    """

    service: str
    method: str

    @classmethod
    def parse(cls, path: str) -> MethodName:
        """Splits a ``/package.Service/Method`` path."""
        service, _, method = path.lstrip("/").partition("/")
        return cls(service, method)


class HandlerInterceptor(grpc.aio.ServerInterceptor):
    """A server interceptor that replaces the handler of every method it does not exempt.

    Subclasses implement :meth:`wrap`, and list in :attr:`exempt_prefixes` the
    method paths whose handlers pass unchanged.
    """

    exempt_prefixes: tuple[str, ...] = ()
    """Paths starting with any of these (e.g. ``/grpc.health.v1.Health/``) pass untouched."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        """Returns the method's handler, wrapped by :meth:`wrap` unless exempt or unknown."""
        handler = await continuation(handler_call_details)
        path = handler_call_details.method
        if handler is None or path.startswith(self.exempt_prefixes):
            return handler
        return self.wrap(handler, MethodName.parse(path), handler_call_details)

    @abc.abstractmethod
    def wrap(
        self,
        handler: grpc.RpcMethodHandler,
        method: MethodName,
        call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        """The handler to serve the call with (``handler`` itself to change nothing).

        Args:
            handler: The method's own handler.
            method: The service and method called.
            call_details: The call's details (its metadata, for one).
        """


def rewrap_handler(
    handler: grpc.RpcMethodHandler,
    wrap_unary_response: Callable[[Behavior], Behavior],
    wrap_stream_response: Callable[[Behavior], Behavior],
    request_deserializer: Callable[[bytes], Any] | None = None,
) -> grpc.RpcMethodHandler:
    """Returns ``handler`` with its behaviour wrapped, whatever the method's kind.

    Args:
        handler: The method's handler.
        wrap_unary_response: Wraps the behaviour of methods that answer one message.
        wrap_stream_response: Wraps the behaviour of methods that stream their answer.
        request_deserializer: Replaces the handler's request deserializer when given.
    """
    kwargs = {
        "request_deserializer": request_deserializer or handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            wrap_unary_response(handler.unary_unary), **kwargs
        )
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(
            wrap_stream_response(handler.unary_stream), **kwargs
        )
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(
            wrap_unary_response(handler.stream_unary), **kwargs
        )
    return grpc.stream_stream_rpc_method_handler(
        wrap_stream_response(handler.stream_stream), **kwargs
    )
