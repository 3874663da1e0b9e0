"""Prometheus metrics: a per-server registry, RPC metrics and the ``/metrics`` endpoint.

The RPC metrics use the names of go-grpc-prometheus (``grpc_server_started_total``,
``grpc_server_handled_total``, ``grpc_server_handling_seconds``, ``grpc_server_msg_*``)
so existing dashboards work. They come from our own ``grpc.aio`` interceptor, since
the stock interceptors miss asyncio servers and streaming calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import grpc
from google.protobuf import descriptor_pool
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from avatar_core.handlers import HandlerInterceptor, MethodName, rewrap_handler

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# A cancel that reaches the handler this close to its deadline is the deadline's doing.
_DEADLINE_SLACK_SECONDS = 0.01


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

    def initialize(self, service_names: Iterable[str]) -> None:
        """Creates every method's series at zero, as go-grpc-prometheus does.

        Dashboards and alerts then see a zero rate, not "no data", before the first call,
        and every status code a method can end with has its series from the start.

        Args:
            service_names: Full names of the served services; those missing from the
                default descriptor pool (no generated module imported) are skipped.
        """
        pool = descriptor_pool.Default()
        for service_name in service_names:
            try:
                service = pool.FindServiceByName(service_name)
            except KeyError:
                continue
            for method in service.methods:
                labels = (
                    _rpc_type_of(method.client_streaming, method.server_streaming),
                    service_name,
                    method.name,
                )
                self.started.labels(*labels)
                self.handling_seconds.labels(*labels)
                self.received.labels(*labels)
                self.sent.labels(*labels)
                for code in grpc.StatusCode:
                    self.handled.labels(*labels, code.name)


class ServiceMetrics:
    """What a model-serving service reports besides its RPCs.

    The names are the same in every service, so one dashboard panel shows them all
    (Prometheus' ``job`` label tells the services apart).

    Args:
        registry: The server's metrics registry.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.model_load_seconds = Gauge(
            "avatar_model_load_seconds",
            "Seconds loading and warming up a model took while the server started.",
            ["model"],
            registry=registry,
        )
        self.queue_depth = Gauge(
            "avatar_queue_depth",
            "Jobs waiting for a free thread of a worker pool.",
            ["pool"],
            registry=registry,
        )
        self.workers_busy = Gauge(
            "avatar_workers_busy",
            "Threads of a worker pool running a job.",
            ["pool"],
            registry=registry,
        )
        self.workers = Gauge(
            "avatar_workers", "Threads of a worker pool.", ["pool"], registry=registry
        )
        self.cache_lookups = Counter(
            "avatar_cache_lookups",
            "Cache lookups, by cache and result (hit or miss).",
            ["cache", "result"],
            registry=registry,
        )

    @contextlib.contextmanager
    def loading(self, model: str) -> Iterator[None]:
        """Times a model load; the time is recorded only when the load succeeds."""
        started = time.perf_counter()
        yield
        self.model_load_seconds.labels(model).set(time.perf_counter() - started)

    def count_lookup(self, cache: str, hit: bool) -> None:
        """Counts one lookup in ``cache``."""
        self.cache_lookups.labels(cache, "hit" if hit else "miss").inc()

    def thread_pool(self, name: str, workers: int) -> MeteredThreadPool:
        """A thread pool whose queue depth and busy threads are reported as ``pool=name``."""
        return MeteredThreadPool(workers, name, self)


class MeteredThreadPool(ThreadPoolExecutor):
    """A thread pool that reports how many jobs wait and how many threads are busy.

    Args:
        workers: Number of threads.
        name: Pool name: the threads' name prefix and the ``pool`` label.
        metrics: Where the gauges live.
    """

    def __init__(self, workers: int, name: str, metrics: ServiceMetrics) -> None:
        super().__init__(workers, thread_name_prefix=name)
        self._waiting = metrics.queue_depth.labels(name)
        self._busy = metrics.workers_busy.labels(name)
        metrics.workers.labels(name).set(workers)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        """Queues ``fn(*args, **kwargs)``, counting it as waiting until a thread takes it."""
        waiting, busy = self._waiting, self._busy

        def run() -> Any:
            waiting.dec()
            busy.inc()
            try:
                return fn(*args, **kwargs)
            finally:
                busy.dec()

        waiting.inc()
        try:
            future = super().submit(run)
        except BaseException:
            waiting.dec()
            raise
        # A job cancelled before a thread took it (shutdown) never runs ``run``.
        future.add_done_callback(lambda done: waiting.dec() if done.cancelled() else None)
        return future


def start_metrics_endpoint(registry: CollectorRegistry, host: str, port: int) -> int:
    """Serves ``registry`` at ``http://host:port/metrics`` in a thread; returns the port.

    Args:
        registry: The registry to expose.
        host: Address to listen on.
        port: Port; 0 picks a free one.
    """
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server.server_port


def _rpc_type(handler: grpc.RpcMethodHandler) -> str:
    return _rpc_type_of(handler.request_streaming, handler.response_streaming)


def _rpc_type_of(request_streaming: bool, response_streaming: bool) -> str:
    if request_streaming and response_streaming:
        return "bidi_stream"
    if request_streaming:
        return "client_stream"
    if response_streaming:
        return "server_stream"
    return "unary"


class MetricsInterceptor(HandlerInterceptor):
    """Counts and times every RPC, unary or streaming, into an :class:`RpcMetrics`."""

    def __init__(self, metrics: RpcMetrics) -> None:
        self._metrics = metrics

    def wrap(
        self,
        handler: grpc.RpcMethodHandler,
        method: MethodName,
        call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        """Wraps the method's handler with counting and timing."""
        labels = (_rpc_type(handler), method.service, method.method)
        metrics = self._metrics
        sent = metrics.sent.labels(*labels)
        received = metrics.received.labels(*labels)

        async def observe(call: Callable[[], Any], context: grpc.aio.ServicerContext) -> Any:
            metrics.started.labels(*labels).inc()
            start = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                return await call()
            except BaseException as error:
                code = _failure_code(context, error)
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
            if not inspect.isasyncgenfunction(behavior):
                # Answers through context.write() (e.g. health Watch): time the coroutine.
                async def written(request_or_iterator, context):
                    if handler.request_streaming:
                        request_or_iterator = count_requests(request_or_iterator)
                    else:
                        received.inc()
                    return await observe(lambda: behavior(request_or_iterator, context), context)

                return written

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
                except BaseException as error:
                    code = _failure_code(context, error)
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

        return rewrap_handler(handler, wrap_unary_out, wrap_stream_out)


def _failure_code(context: grpc.aio.ServicerContext, error: BaseException) -> grpc.StatusCode:
    """The status a failed call ends with: the one the handler set, else what stopped it.

    A client cancel or an expired deadline reaches the handler as a cancelled task (or a
    closed response generator) with no code set; gRPC answers those CANCELLED and
    DEADLINE_EXCEEDED, so they are counted as such rather than as UNKNOWN.
    """
    code = _code_of(context)
    if code is not None:
        return code
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        remaining = context.time_remaining()
        if remaining is not None and remaining <= _DEADLINE_SLACK_SECONDS:
            return grpc.StatusCode.DEADLINE_EXCEEDED
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN


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
