"""The web front on a free port in front of an in-process stack, and headless Chromium.

:func:`running_web` starts the stack (``tests/reliability/harness.py``) and the web
front in this process. :func:`chromium` launches Debian's ``/usr/bin/chromium``
through playwright with a fresh profile; it is never downloaded (``playwright
install`` is not used). Screenshots go to ``out/test-artifacts/web/``.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from avatar_gateway.web.app import SESSIONS_KEY
from avatar_gateway.web.config import WebConfig
from avatar_gateway.web.server import WebServer
from tests.reliability.harness import ReliabilityStack, running_stack

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "out" / "test-artifacts" / "web"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


@dataclass
class WebStack:
    """The in-process stack and the web front in front of it."""

    stack: ReliabilityStack
    web: WebServer

    @property
    def url(self) -> str:
        """The page's address."""
        return f"http://127.0.0.1:{self.web.port}/"

    def live_sessions(self) -> int:
        """Sessions the web front holds."""
        return len(self.web.app[SESSIONS_KEY].live)

    def web_metric(self, name: str, **labels: str) -> float:
        """Sums the web front's samples of ``name`` whose labels include ``labels``."""
        return sum(
            sample.value
            for family in self.web.registry.collect()
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )

    def converse_calls(self) -> float:
        """Converse streams the gateway has started and not finished."""
        started = self.stack.metric("gateway", "grpc_server_started_total", grpc_method="Converse")
        handled = self.stack.metric("gateway", "grpc_server_handled_total", grpc_method="Converse")
        return started - handled

    def downstream_calls(self) -> float:
        """Calls in flight on the four services behind the gateway."""
        return sum(
            self.stack.calls_in_flight(name) for name in ("llm", "tts", "animator", "enhancer")
        )


@contextlib.asynccontextmanager
async def running_web(
    tmp_path: Path,
    environments: Mapping[str, Mapping[str, str]] | None = None,
    **web_settings,
) -> AsyncIterator[WebStack]:
    """The stack plus the web front on 127.0.0.1, a free port.

    Args:
        tmp_path: Where the avatar store goes.
        environments: Extra ``AVATAR_*`` variables per service name.
        **web_settings: :class:`WebConfig` fields to change.
    """
    async with running_stack(tmp_path, environments) as stack:
        config = WebConfig(
            port=0, metrics_port=-1, gateway_address=stack.address("gateway"), **web_settings
        )
        async with WebServer(config) as web:
            yield WebStack(stack, web)


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator:
    """A headless Chromium context with a fresh profile (deleted afterwards)."""
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory(prefix="avatar-chromium-") as profile:
        async with async_playwright() as playwright:
            context = await playwright.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                args=CHROMIUM_ARGS,
                headless=True,
                viewport={"width": 1280, "height": 900},
            )
            try:
                yield context
            finally:
                await context.close()


async def screenshot(page, name: str) -> Path:
    """Saves a screenshot of ``page`` as a test artefact; returns its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path))
    return path
