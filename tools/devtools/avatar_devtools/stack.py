"""Runs the whole stack on one machine: five server processes, health-checked.

Used by ``avatar up``, ``avatar demo`` and the end-to-end tests. Each service is
its own process (``python -m avatar_<name>``, ``python -m avatar_gateway``)
configured through its environment, exactly as when the services run on separate
machines. ``avatar up`` also starts the web front (``python -m avatar_gateway.web``),
a client of the gateway, and waits until its page answers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from avatar_core.config import DEFAULT_METRICS_PORTS, DEFAULT_PORTS, ClientTls
from avatar_core.tls import sync_channel
from avatar_devtools.units import DOWNSTREAM_SERVICES, OPTIONAL_SERVICES, UNITS, WEB

MODULES = {name: unit.package for name, unit in UNITS.items()}


class StackError(RuntimeError):
    """A service did not start or did not become healthy."""


# Replica k (2, 3, ...) of a service listens this many ports above replica k - 1 by default.
REPLICA_PORT_STEP = 100


def default_animators() -> int:
    """Animator processes a stack on this machine runs: one per core it may use."""
    return max(1, len(os.sched_getaffinity(0)))


def unit_of(process: str) -> str:
    """The service a process name runs: ``"animator-2"`` (a replica) runs ``"animator"``."""
    base, _, number = process.rpartition("-")
    return base if base in MODULES and number.isdigit() else process


@dataclass(frozen=True, slots=True)
class StackPorts:
    """The gRPC and metrics port of each process: one per service, and more replicas of a
    service named ``<service>-2``, ``<service>-3``, ..."""

    grpc: Mapping[str, int]
    metrics: Mapping[str, int]

    @classmethod
    def defaults(cls, animators: int = 1) -> StackPorts:
        """50051-50056 and 9051-9056; ``animators`` animator processes, replica k on
        the animator's ports plus 100 (k - 1)."""
        grpc, metrics = dict(DEFAULT_PORTS), dict(DEFAULT_METRICS_PORTS)
        for number in range(2, animators + 1):
            step = REPLICA_PORT_STEP * (number - 1)
            grpc[f"animator-{number}"] = DEFAULT_PORTS["animator"] + step
            metrics[f"animator-{number}"] = DEFAULT_METRICS_PORTS["animator"] + step
        return cls(grpc=grpc, metrics=metrics)

    def replicas(self, service: str) -> list[str]:
        """The processes that run ``service``, the first one first."""
        return [name for name in self.grpc if unit_of(name) == service]


class LocalStack:
    """The server processes on this machine (one per service its ports name).

    Args:
        ports: Where each service listens.
        environment: Extra variables for every process (e.g. the LLM's base URL).
        log_dir: Where each process's output goes (``<service>.log``); None lets
            it go to this terminal.
        host: Address the services listen on and are reached at.
        client_tls: What the health checks use to reach a service that serves TLS
            (its ``AVATAR_<SERVICE>_TLS_CERT`` is set): the CA and, for mutual TLS,
            a client certificate.
    """

    def __init__(
        self,
        ports: StackPorts | None = None,
        environment: Mapping[str, str] | None = None,
        log_dir: Path | None = None,
        host: str = "127.0.0.1",
        client_tls: ClientTls | None = None,
    ) -> None:
        self.ports = ports or StackPorts.defaults()
        self.environment = dict(environment or {})
        self.log_dir = log_dir
        self.host = host
        self.client_tls = client_tls
        self.processes: dict[str, subprocess.Popen] = {}
        self.web_process: subprocess.Popen | None = None
        self.web_port = WEB.port

    @property
    def gateway_address(self) -> str:
        """``host:port`` of the gateway."""
        return self.address("gateway")

    def address(self, service: str) -> str:
        """``host:port`` of a service's process (a replica's by its own name)."""
        return f"{self.host}:{self.ports.grpc[service]}"

    def addresses(self, service: str) -> str:
        """Where the gateway reaches a service: its processes' addresses, comma-separated."""
        return ",".join(self.address(name) for name in self.ports.replicas(service))

    def service_environment(self, service: str) -> dict[str, str]:
        """The environment a service's process (or a replica's, by its name) gets."""
        unit = unit_of(service)
        prefix = f"AVATAR_{unit.upper()}_"
        env = {**os.environ, **self.environment}
        env[f"{prefix}HOST"] = self.host
        env[f"{prefix}PORT"] = str(self.ports.grpc[service])
        env[f"{prefix}METRICS_PORT"] = str(self.ports.metrics[service])
        if service == "gateway":
            for downstream in DOWNSTREAM_SERVICES:
                env.setdefault(
                    f"AVATAR_GATEWAY_{downstream.upper()}_ADDRESS", self.addresses(downstream)
                )
            for optional in OPTIONAL_SERVICES:
                if optional in self.ports.grpc:
                    env.setdefault(
                        f"AVATAR_GATEWAY_{optional.upper()}_ADDRESS", self.address(optional)
                    )
        return env

    def command(self, service: str) -> list[str]:
        """The command line of a service's process."""
        return [sys.executable, "-m", MODULES[unit_of(service)]]

    def start(self, services: list[str] | None = None) -> None:
        """Starts the services' processes: by default every process the ports name (all
        six services with the default ports, and their replicas; a stack whose ports leave
        out asr runs without it)."""
        names = [name for unit in MODULES for name in self.ports.replicas(unit)]
        for service in services or names:
            self.start_service(service)

    def start_service(self, service: str) -> None:
        """Starts one service's process."""
        output = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            output = open(self.log_dir / f"{service}.log", "ab")  # noqa: SIM115 - owned by the child
        self.processes[service] = subprocess.Popen(
            self.command(service),
            env=self.service_environment(service),
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
            start_new_session=True,
        )

    def wait_until_serving(self, timeout: float = 180.0, progress=None) -> None:
        """Blocks until every started service's health check says SERVING.

        Raises:
            StackError: A process exited, or ``timeout`` passed.
        """
        deadline = time.monotonic() + timeout
        waiting = set(self.processes)
        while waiting:
            for service in sorted(waiting):
                self._check_alive(service)
                if _is_serving(self.address(service), self.health_check_tls(service)):
                    waiting.discard(service)
                    if progress:
                        progress(f"{service} is serving on {self.address(service)}")
            if waiting and time.monotonic() > deadline:
                raise StackError(f"not serving after {timeout:.0f} s: {', '.join(sorted(waiting))}")
            if waiting:
                time.sleep(0.2)

    def health_check_tls(self, service: str) -> ClientTls | None:
        """The TLS settings to reach ``service`` with: None when it serves plaintext.

        Raises:
            StackError: The service serves TLS and the stack has no ``client_tls``.
        """
        prefix = f"AVATAR_{unit_of(service).upper()}_"
        serves_tls = self.service_environment(service).get(f"{prefix}TLS_CERT")
        if serves_tls and self.client_tls is None:
            raise StackError(
                f"{service} serves TLS: give the stack the CA to check its health "
                "(avatar --tls-ca ..., and --tls-cert/--tls-key for mutual TLS)"
            )
        return self.client_tls if serves_tls else None

    def _check_alive(self, service: str) -> None:
        code = self.processes[service].poll()
        if code is not None:
            hint = f"; see {self.log_dir / (service + '.log')}" if self.log_dir else ""
            raise StackError(f"{service} exited with code {code} during start-up{hint}")

    @property
    def web_url(self) -> str:
        """The web page's address."""
        host = "localhost" if self.host in ("127.0.0.1", "0.0.0.0") else self.host
        return f"http://{host}:{self.web_port}/"

    def web_environment(self, port: int, metrics_port: int) -> dict[str, str]:
        """The environment the web front's process gets: this stack's gateway."""
        env = {**os.environ, **self.environment}
        env.update(
            AVATAR_WEB_HOST=self.host,
            AVATAR_WEB_PORT=str(port),
            AVATAR_WEB_METRICS_PORT=str(metrics_port),
            AVATAR_WEB_GATEWAY_ADDRESS=self.gateway_address,
        )
        if self.client_tls is not None and self.health_check_tls("gateway") is not None:
            tls = self.client_tls
            for key, path in (
                ("TLS_CA", tls.ca_file),
                ("TLS_CLIENT_CERT", tls.cert_file),
                ("TLS_CLIENT_KEY", tls.key_file),
            ):
                if path is not None:
                    env[f"AVATAR_WEB_{key}"] = str(path)
            if tls.server_name:
                env["AVATAR_WEB_TLS_SERVER_NAME"] = tls.server_name
        return env

    def start_web(self, port: int = WEB.port, metrics_port: int = WEB.metrics_port) -> None:
        """Starts the web front's process, a client of this stack's gateway."""
        output = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            output = open(self.log_dir / f"{WEB.name}.log", "ab")  # noqa: SIM115 - owned by the child
        self.web_port = port
        self.web_process = subprocess.Popen(
            [sys.executable, "-m", WEB.package],
            env=self.web_environment(port, metrics_port),
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
            start_new_session=True,
        )

    def wait_until_web_serving(self, timeout: float = 30.0) -> None:
        """Blocks until the web front's page answers.

        Raises:
            StackError: Its process exited, or ``timeout`` passed.
        """
        deadline = time.monotonic() + timeout
        url = f"http://{self.host}:{self.web_port}/api/config"
        while True:
            if self.web_process is None or self.web_process.poll() is not None:
                hint = f"; see {self.log_dir / 'web.log'}" if self.log_dir else ""
                raise StackError(f"the web front exited during start-up{hint}")
            try:
                with urllib.request.urlopen(url, timeout=1.0):
                    return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise StackError(f"the web front is not answering on {url} after {timeout:.0f} s")
            time.sleep(0.2)

    def stop_web(self, timeout: float = 10.0) -> int | None:
        """Stops the web front (SIGTERM, then SIGKILL); returns its exit code."""
        process, self.web_process = self.web_process, None
        return _terminate(process, timeout) if process is not None else None

    def stop_service(self, service: str, timeout: float = 15.0) -> int | None:
        """Sends SIGTERM (then SIGKILL after ``timeout``); returns the exit code."""
        process = self.processes.pop(service, None)
        if process is None:
            return None
        return _terminate(process, timeout)

    def stop(self) -> None:
        """Stops the web front, then every service, the gateway first so no new work
        reaches the others."""
        self.stop_web()
        for service in ["gateway", *[s for s in self.processes if s != "gateway"]]:
            self.stop_service(service)

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _terminate(process: subprocess.Popen, timeout: float) -> int | None:
    """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def _is_serving(address: str, tls: ClientTls | None = None) -> bool:
    try:
        with sync_channel(address, tls) as channel:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=1.0
            )
        return response.status == health_pb2.HealthCheckResponse.SERVING
    except grpc.RpcError:
        return False
