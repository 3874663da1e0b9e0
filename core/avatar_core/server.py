"""One bootstrap for every avatar server.

A server is described by a :class:`Service` (its servicers, warm-up and clean-up;
:func:`create_service_with` builds one for a unit's servicer) and a
:class:`~avatar_core.config.ServerConfig`. :class:`AvatarServer` builds a
``grpc.aio`` server with explicit options, registers health checking and
reflection, serves Prometheus metrics, reports NOT_SERVING until the warm-up has
finished, and on SIGTERM drains: health flips to NOT_SERVING at once (and keeps
answering, so probes see it), new calls are refused with UNAVAILABLE, in-flight calls
get the grace period to finish. Every call except health checks passes a
:class:`~avatar_core.gate.CallGate` (the concurrency limit), and the server speaks
TLS, or mutual TLS, when its configuration names certificates.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry, Gauge, ProcessCollector

from avatar_core.config import ServerConfig
from avatar_core.gate import CallGate, GateMetrics
from avatar_core.metrics import MetricsInterceptor, RpcMetrics, start_metrics_endpoint
from avatar_core.safety import SafetyInterceptor
from avatar_core.tls import server_credentials

log = logging.getLogger(__name__)

# Calls that bypass the gate (health checks) get this much room in gRPC's own hard limit.
UNGATED_HEADROOM = 32
# After the last gated call ends, how long its final messages may take to flush.
FLUSH_SECONDS = 1.0


@dataclass
class Service:
    """What a server serves.

    Attributes:
        registrations: ``(full service name, register function)`` pairs, e.g.
            ``("avatar.tts.v1.TtsService", lambda server: add_..._to_server(servicer, server))``.
        warm_up: Loads models etc.; health says SERVING only after it returns.
        close: Releases resources after the server has stopped.
        interceptors: Extra server interceptors (e.g. authentication), run after
            the metrics interceptor and before the concurrency limit.
        health_checks: Further health-check names, each with whether it can serve (e.g.
            one per model, ``avatar.tts.v1.TtsService/<voice>``); read when health is set,
            so a part that failed to load reports NOT_SERVING while the rest serve.
    """

    registrations: list[tuple[str, Callable[[grpc.aio.Server], None]]]
    warm_up: Callable[[], Awaitable[None]] | None = None
    close: Callable[[], Awaitable[None]] | None = None
    interceptors: list[grpc.aio.ServerInterceptor] = field(default_factory=list)
    health_checks: Callable[[], Mapping[str, bool]] | None = None


ServiceFactory = Callable[[CollectorRegistry], Service]


def create_service_with(
    servicer: Any,
    add_to_server: Callable[[Any, grpc.aio.Server], None],
    service_descriptor: ServiceDescriptor,
    *,
    warm_up: Callable[[], Awaitable[None]] | None = None,
    close: Callable[[], Awaitable[None] | None] | None = None,
    interceptors: list[grpc.aio.ServerInterceptor] | None = None,
    health_checks: Callable[[], Mapping[str, bool]] | None = None,
) -> Service:
    """A :class:`Service` that serves one servicer under its proto service's full name.

    Args:
        servicer: The servicer instance.
        add_to_server: The generated ``add_<Name>Servicer_to_server`` function.
        service_descriptor: The proto service, e.g.
            ``tts_pb2.DESCRIPTOR.services_by_name["TtsService"]``; its full name
            names the health check and the metrics series.
        warm_up: See :attr:`Service.warm_up`.
        close: Releases resources after the server has stopped; plain functions
            (e.g. a servicer's ``close`` that stops its thread pool) and coroutine
            functions both work.
        interceptors: See :attr:`Service.interceptors`.
        health_checks: See :attr:`Service.health_checks`.
    """
    return Service(
        registrations=[
            (service_descriptor.full_name, lambda server: add_to_server(servicer, server))
        ],
        warm_up=warm_up,
        close=None if close is None else _awaitable(close),
        interceptors=list(interceptors or ()),
        health_checks=health_checks,
    )


def _awaitable(function: Callable[[], Awaitable[None] | None]) -> Callable[[], Awaitable[None]]:
    """``function`` as a coroutine function, whether it returns an awaitable or not."""

    async def call() -> None:
        result = function()
        if inspect.isawaitable(result):
            await result

    return call


def server_options(config: ServerConfig) -> list[tuple[str, int]]:
    """The channel options every server uses, each with its reason."""
    return [
        # Frame batches and photos are large: state the limit instead of gRPC's 4 MiB default.
        ("grpc.max_receive_message_length", config.max_message_bytes),
        ("grpc.max_send_message_length", config.max_message_bytes),
        # Detect dead peers on long streams without waiting for TCP timeouts.
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        # Let clients ping on idle connections so the keepalive above is accepted.
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
    ]


class AvatarServer:
    """A running gRPC server with health, reflection, metrics and graceful drain.

    Args:
        config: Shared server settings.
        factory: Builds the :class:`Service`, given the server's metrics registry.
    """

    def __init__(self, config: ServerConfig, factory: ServiceFactory) -> None:
        self.config = config
        self.registry = CollectorRegistry()
        # CPU, memory and open files of this process, next to its own metrics.
        ProcessCollector(registry=self.registry)
        self._warm_up_seconds = Gauge(
            "avatar_warm_up_seconds",
            "Seconds from the server's start to SERVING (model loads and warm-up).",
            registry=self.registry,
        )
        self.service = factory(self.registry)
        self.health = health.aio.HealthServicer()
        self.port = 0
        self.metrics_port = -1
        self.gate = CallGate(
            config.service,
            config.max_concurrent_rpcs,
            config.retry_after_ms,
            GateMetrics(self.registry),
        )
        self._server: grpc.aio.Server | None = None

    @property
    def service_names(self) -> list[str]:
        """Full names of the served gRPC services."""
        return [name for name, _ in self.service.registrations]

    async def start(self) -> None:
        """Binds, starts, warms up, then reports SERVING."""
        rpc_metrics = RpcMetrics(self.registry)
        rpc_metrics.initialize(self.service_names)
        interceptors = [
            # Outermost, so refused calls are counted with their status codes too.
            MetricsInterceptor(rpc_metrics),
            *self.service.interceptors,
            self.gate,
            # Innermost: its deserialiser is the one gRPC uses (the others pass it on).
            SafetyInterceptor(),
        ]
        server = grpc.aio.server(
            interceptors=interceptors,
            options=server_options(self.config),
            # A backstop only: the gate refuses first, with a retry hint.
            maximum_concurrent_rpcs=self.config.max_concurrent_rpcs + UNGATED_HEADROOM,
        )
        for _, register in self.service.registrations:
            register(server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        if self.config.reflection:
            names = [*self.service_names, health.SERVICE_NAME, reflection.SERVICE_NAME]
            reflection.enable_server_reflection(names, server)
        await self._set_all(health_pb2.HealthCheckResponse.NOT_SERVING)
        self.port = self._bind(server)
        await server.start()
        self._server = server
        if self.config.metrics_port >= 0:
            self.metrics_port = start_metrics_endpoint(
                self.registry, self.config.host, self.config.metrics_port
            )
        log.info(
            "%s listening on %s:%d (%s, metrics port %d), warming up",
            self.config.service,
            self.config.host,
            self.port,
            _transport(self.config),
            self.metrics_port,
        )
        warm_up_started = time.perf_counter()
        if self.service.warm_up is not None:
            await self.service.warm_up()
        self._warm_up_seconds.set(time.perf_counter() - warm_up_started)
        await self._set_all(health_pb2.HealthCheckResponse.SERVING)
        log.info("%s is SERVING", self.config.service)

    def _bind(self, server: grpc.aio.Server) -> int:
        """Adds the listening port, TLS when configured; returns the port bound."""
        address = f"{self.config.host}:{self.config.port}"
        if self.config.tls is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, server_credentials(self.config.tls))
        if port == 0:
            raise OSError(f"{self.config.service}: cannot bind {address}")
        return port

    async def _set_all(self, status: int) -> None:
        await self.health.set("", status)
        for name in self.service_names:
            await self.health.set(name, status)
        parts = self.service.health_checks() if self.service.health_checks else {}
        for name, can_serve in parts.items():
            await self.health.set(
                name, status if can_serve else health_pb2.HealthCheckResponse.NOT_SERVING
            )

    async def stop(self, grace: float | None = None) -> None:
        """Drains: NOT_SERVING at once, refuse new calls, let in-flight ones finish.

        Health keeps answering (NOT_SERVING) while in-flight calls finish, so probes
        and load balancers see the drain; new calls get UNAVAILABLE. Calls still
        running when ``grace`` seconds have passed are cancelled.
        """
        if self._server is None:
            return
        grace = self.config.grace_seconds if grace is None else grace
        await self.health.enter_graceful_shutdown()
        self.gate.start_draining()
        log.info(
            "%s draining: %d calls in flight, grace %.1f s",
            self.config.service,
            self.gate.in_flight,
            grace,
        )
        started = time.monotonic()
        if not await self.gate.wait_idle(grace):
            log.warning(
                "%s: %d calls still in flight after %.1f s; cancelling them",
                self.config.service,
                self.gate.in_flight,
                grace,
            )
        remaining = max(0.0, grace - (time.monotonic() - started))
        await self._server.stop(min(remaining, FLUSH_SECONDS))
        self._server = None
        if self.service.close is not None:
            await self.service.close()
        log.info("%s stopped", self.config.service)

    async def wait_for_termination(self) -> None:
        """Returns when the server has stopped."""
        if self._server is not None:
            await self._server.wait_for_termination()


@contextlib.asynccontextmanager
async def running_server(
    config: ServerConfig, factory: ServiceFactory
) -> AsyncIterator[AvatarServer]:
    """Starts a server for the duration of a ``with`` block (tests, embedding)."""
    server = AvatarServer(config, factory)
    await server.start()
    try:
        yield server
    finally:
        await server.stop(grace=1.0)


async def serve(config: ServerConfig, factory: ServiceFactory) -> None:
    """Runs a server until SIGTERM or SIGINT, then drains it."""
    server = AvatarServer(config, factory)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await server.start()
    await stopping.wait()
    await server.stop()


def _transport(config: ServerConfig) -> str:
    if config.tls is None:
        return "plaintext"
    return "mutual TLS" if config.tls.client_ca_file is not None else "TLS"


def run(config: ServerConfig, factory: ServiceFactory) -> None:
    """Entry point of a server process: logging, then :func:`serve` until a signal."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(serve(config, factory))
