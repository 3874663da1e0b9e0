"""Prometheus metrics: a per-server registry, RPC metrics and the ``/metrics`` endpoint.

The RPC metrics use the names of go-grpc-prometheus (``grpc_server_started_total``,
``grpc_server_handled_total``, ``grpc_server_handling_seconds``, ``grpc_server_msg_*``)
so existing dashboards work. They come from our own ``grpc.aio`` interceptor, since
the stock interceptors miss asyncio servers and streaming calls.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class RpcMetrics:
    """The go-grpc-prometheus server metrics, registered on one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["grpc_type", "grpc_service", "grpc_method"]
        self.started = Counter(
            "grpc_server_started", "RPCs started on the server.", labels, registry=registry
        )
        self.handled = Counter(
            "grpc_server_handled",
            "RPCs completed on the server, by status code.",
            [*labels, "grpc_code"],
            registry=registry,
        )
        self.handling_seconds = Histogram(
            "grpc_server_handling_seconds",
            "Time from the start of an RPC to its completion.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.received = Counter(
            "grpc_server_msg_received", "Stream messages received.", labels, registry=registry
        )
        self.sent = Counter(
            "grpc_server_msg_sent", "Stream messages sent.", labels, registry=registry
        )


def start_metrics_endpoint(registry: CollectorRegistry, host: str, port: int) -> int:
    """Serves ``registry`` at ``http://host:port/metrics`` in a thread; returns the port.

    Args:
        registry: The registry to expose.
        host: Address to listen on.
        port: Port; 0 picks a free one.
    """
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server.server_port


def _split_method(full_method: str) -> tuple[str, str]:
    service, _, method = full_method.lstrip("/").partition("/")
    return service, method


def _rpc_type(handler: grpc.RpcMethodHandler) -> str:
    if handler.request_streaming and handler.response_streaming:
        return "bidi_stream"
    if handler.request_streaming:
        return "client_stream"
    if handler.response_streaming:
        return "server_stream"
    return "unary"


class MetricsInterceptor(grpc.aio.ServerInterceptor):
    """Counts and times every RPC, unary or streaming, into an :class:`RpcMetrics`."""

    def __init__(self, metrics: RpcMetrics) -> None:
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        """Wraps the method's handler with counting and timing."""
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        service, method = _split_method(handler_call_details.method)
        labels = (_rpc_type(handler), service, method)
        metrics = self._metrics
        sent = metrics.sent.labels(*labels)
        received = metrics.received.labels(*labels)

        async def observe(call: Callable[[], Any], context: grpc.aio.ServicerContext) -> Any:
            metrics.started.labels(*labels).inc()
            start = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                return await call()
            except BaseException:
                code = _code_of(context) or grpc.StatusCode.UNKNOWN
                raise
            finally:
                code = _code_of(context) or code
                metrics.handled.labels(*labels, code.name).inc()
                metrics.handling_seconds.labels(*labels).observe(time.perf_counter() - start)

        async def count_requests(iterator: AsyncIterator[Any]) -> AsyncIterator[Any]:
            async for message in iterator:
                received.inc()
                yield message

        def wrap_stream_out(behavior):
            async def wrapper(request_or_iterator, context):
                if handler.request_streaming:
                    request_or_iterator = count_requests(request_or_iterator)
                else:
                    received.inc()
                metrics.started.labels(*labels).inc()
                start = time.perf_counter()
                code = grpc.StatusCode.OK
                try:
                    async for response in behavior(request_or_iterator, context):
                        sent.inc()
                        yield response
                except BaseException:
                    code = _code_of(context) or grpc.StatusCode.UNKNOWN
                    raise
                finally:
                    code = _code_of(context) or code
                    metrics.handled.labels(*labels, code.name).inc()
                    metrics.handling_seconds.labels(*labels).observe(time.perf_counter() - start)

            return wrapper

        def wrap_unary_out(behavior):
            async def wrapper(request_or_iterator, context):
                if handler.request_streaming:
                    request_or_iterator = count_requests(request_or_iterator)
                else:
                    received.inc()
                response = await observe(lambda: behavior(request_or_iterator, context), context)
                sent.inc()
                return response

            return wrapper

        kwargs = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                wrap_unary_out(handler.unary_unary), **kwargs
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                wrap_stream_out(handler.unary_stream), **kwargs
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                wrap_unary_out(handler.stream_unary), **kwargs
            )
        return grpc.stream_stream_rpc_method_handler(
            wrap_stream_out(handler.stream_stream), **kwargs
        )


def _code_of(context: grpc.aio.ServicerContext) -> grpc.StatusCode | None:
    """Returns the status code the handler set (by abort or set_code), if any."""
    try:
        code = context.code()
    except Exception:  # older grpc: no code() on aio contexts
        return None
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):
        return next((c for c in grpc.StatusCode if c.value[0] == code), None)
    return None
