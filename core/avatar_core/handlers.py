"""Rebuilding a gRPC method handler around wrapped behaviour, for server interceptors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

Behavior = Callable[..., Any]


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
