"""Admission of calls: a concurrency limit that refuses at once, and refusal while draining.

gRPC's own ``maximum_concurrent_rpcs`` answers RESOURCE_EXHAUSTED without a hint
of when to retry, and counts health checks, so a busy server would also fail its
probes. :class:`CallGate` is the limit instead: a counter checked without waiting.
A call over the limit is refused at once with RESOURCE_EXHAUSTED, a message that
says to retry, and the back-off in the trailing metadata (``grpc-retry-pushback-ms``,
which gRPC's retry policy honours, and ``retry-after-ms``). Refused calls never
queue, so the work a server holds stays bounded by the limit. While the server
drains, new calls get UNAVAILABLE, and :meth:`CallGate.wait_idle` tells when the
calls in flight have finished. Health checks pass the gate untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Callable

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge

from avatar_core.handlers import HandlerInterceptor, MethodName, rewrap_handler

RETRY_PUSHBACK_KEY = "grpc-retry-pushback-ms"
RETRY_AFTER_KEY = "retry-after-ms"
# Probes must answer even when the server is full or draining.
UNGATED_PREFIXES = ("/grpc.health.v1.Health/",)

Admission = Callable[[grpc.aio.ServicerContext], contextlib.AbstractAsyncContextManager[None]]


class GateMetrics:
    """Calls in flight and calls refused by the gate.

    Args:
        registry: The server's metrics registry.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.in_flight = Gauge(
            "avatar_server_calls_in_flight",
            "Calls being served, health checks excluded.",
            registry=registry,
        )
        self.rejected = Counter(
            "avatar_server_rejected_calls",
            "Calls refused before they ran: overload (RESOURCE_EXHAUSTED) or draining "
            "(UNAVAILABLE).",
            ["grpc_service", "grpc_method", "reason"],
            registry=registry,
        )


def wrap_handler(handler: grpc.RpcMethodHandler, admission: Admission) -> grpc.RpcMethodHandler:
    """Returns ``handler`` with its behaviour run inside ``admission(context)``.

    The admission context manager may refuse the call by aborting the context; its
    exit runs when the call ends, however it ends (also when cancelled).
    """

    def unary_response(behavior):
        async def wrapper(request_or_iterator, context):
            async with admission(context):
                return await behavior(request_or_iterator, context)

        return wrapper

    def stream_response(behavior):
        if not inspect.isasyncgenfunction(behavior):
            # A handler that answers through context.write() and returns nothing.
            return unary_response(behavior)

        async def wrapper(request_or_iterator, context):
            async with admission(context):
                async for response in behavior(request_or_iterator, context):
                    yield response

        return wrapper

    return rewrap_handler(handler, unary_response, stream_response)


class CallGate(HandlerInterceptor):
    """Admits at most ``limit`` calls at once; refuses the rest, and all while draining.

    Args:
        server_name: Name used in refusal messages ("tts", "gateway", ...).
        limit: Calls served at once.
        retry_after_ms: Back-off suggested to refused callers.
        metrics: Where in-flight and refused calls are counted.
    """

    exempt_prefixes = UNGATED_PREFIXES

    def __init__(
        self, server_name: str, limit: int, retry_after_ms: int, metrics: GateMetrics
    ) -> None:
        self._name = server_name
        self._limit = limit
        self._retry_after_ms = retry_after_ms
        self._metrics = metrics
        self._in_flight = 0
        self._draining = False
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def in_flight(self) -> int:
        """Calls admitted and not yet finished."""
        return self._in_flight

    def start_draining(self) -> None:
        """Refuses every new call from now on with UNAVAILABLE."""
        self._draining = True

    async def wait_idle(self, timeout: float) -> bool:
        """Waits up to ``timeout`` seconds for the calls in flight; True when none is left."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        return self._in_flight == 0

    def wrap(
        self,
        handler: grpc.RpcMethodHandler,
        method: MethodName,
        call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        """Puts every call except health checks behind the gate."""
        return wrap_handler(
            handler, lambda context: self._admission(context, method.service, method.method)
        )

    @contextlib.asynccontextmanager
    async def _admission(
        self, context: grpc.aio.ServicerContext, service: str, method: str
    ) -> AsyncIterator[None]:
        if self._draining:
            self._metrics.rejected.labels(service, method, "draining").inc()
            await context.abort(
                grpc.StatusCode.UNAVAILABLE,
                f"{self._name} is shutting down and takes no new calls; retry, "
                "another replica or the restarted server will answer",
            )
        if self._in_flight >= self._limit:
            self._metrics.rejected.labels(service, method, "overload").inc()
            retry = str(self._retry_after_ms)
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{self._name} is busy: it serves at most {self._limit} calls at once; "
                f"retry in {self._retry_after_ms} ms",
                trailing_metadata=((RETRY_PUSHBACK_KEY, retry), (RETRY_AFTER_KEY, retry)),
            )
        self._enter()
        try:
            yield
        finally:
            self._leave()

    def _enter(self) -> None:
        self._in_flight += 1
        self._idle.clear()
        self._metrics.in_flight.set(self._in_flight)

    def _leave(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0:
            self._idle.set()
        self._metrics.in_flight.set(self._in_flight)
