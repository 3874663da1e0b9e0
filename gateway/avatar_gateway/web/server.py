"""Starting and stopping the web front: the HTTP server and its metrics endpoint."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry

from avatar_core.metrics import start_metrics_endpoint
from avatar_gateway.web.app import create_app
from avatar_gateway.web.config import WebConfig
from avatar_gateway.web.metrics import WebMetrics


class WebServer:
    """The web front, started in the running event loop.

    Args:
        config: Its settings.

    Attributes:
        port: The HTTP port it listens on (after :meth:`start`).
        metrics_port: The ``/metrics`` port, or None when disabled.
        registry: The metrics registry.
    """

    def __init__(self, config: WebConfig) -> None:
        self.config = config
        self.registry = CollectorRegistry()
        self.metrics = WebMetrics(self.registry)
        self.app = create_app(config, self.metrics)
        self.runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=5.0)
        self.port = config.port
        self.metrics_port: int | None = None

    @property
    def url(self) -> str:
        """The page's address."""
        host = (
            "localhost" if self.config.host in ("127.0.0.1", "0.0.0.0", "::") else self.config.host
        )
        return f"http://{host}:{self.port}/"

    async def start(self) -> None:
        """Listens on the configured host and port (a free port for 0)."""
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.config.host, self.config.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # the port 0 picked
        if self.config.metrics_port >= 0:
            self.metrics_port = start_metrics_endpoint(
                self.registry, self.config.host, self.config.metrics_port
            )

    async def stop(self) -> None:
        """Closes every session and the gateway channel, then stops listening."""
        await self.runner.cleanup()

    async def __aenter__(self) -> WebServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()
