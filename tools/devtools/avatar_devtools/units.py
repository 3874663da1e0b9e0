"""The deployable units and where their code lives: the one list every launcher reads.

The stack launcher, the multi-node demo, the in-process test servers and the benchmarks
all start services by these names, so a unit renamed or added here is renamed or added
everywhere.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from avatar_gateway.web.config import DEFAULT_WEB_METRICS_PORT, DEFAULT_WEB_PORT


@dataclass(frozen=True, slots=True)
class Unit:
    """One deployable service.

    Attributes:
        name: The service's name, as in ports, metrics and ``AVATAR_<NAME>_*`` variables.
        package: Its Python package; ``python -m <package>`` serves it.
        config_class: The name of its typed configuration in ``<package>.config``.
        service_module: The module whose ``create_service(config, registry)`` builds it.
    """

    name: str
    package: str
    config_class: str
    service_module: str

    def config_type(self) -> Any:
        """Imports and returns the unit's configuration class."""
        module = importlib.import_module(f"{self.package}.config")
        return getattr(module, self.config_class)

    def create_service(self) -> Any:
        """Imports and returns the unit's ``create_service`` function."""
        return importlib.import_module(self.service_module).create_service


UNITS: dict[str, Unit] = {
    unit.name: unit
    for unit in (
        Unit("llm", "avatar_llm", "LlmConfig", "avatar_llm.servicer"),
        Unit("tts", "avatar_tts", "TtsConfig", "avatar_tts.servicer"),
        Unit("animator", "avatar_animator", "AnimatorConfig", "avatar_animator.servicer"),
        Unit("enhancer", "avatar_enhancer", "EnhancerConfig", "avatar_enhancer.servicer"),
        Unit("asr", "avatar_asr", "AsrConfig", "avatar_asr.servicer"),
        Unit("gateway", "avatar_gateway", "GatewayConfig", "avatar_gateway.service"),
    )
}
"""Every unit by name, downstream services first and the gateway last."""

SERVICE_NAMES: tuple[str, ...] = tuple(UNITS)
"""The units' names in start order."""

OPTIONAL_SERVICES: tuple[str, ...] = ("asr",)
"""Services the gateway serves without, so a stack may leave them out (speech turns need asr)."""

DOWNSTREAM_SERVICES: tuple[str, ...] = tuple(
    name for name in UNITS if name != "gateway" and name not in OPTIONAL_SERVICES
)
"""The services the gateway composes for every request."""


@dataclass(frozen=True, slots=True)
class WebFront:
    """The web page's process: an HTTP server and a gRPC client of the gateway.

    Attributes:
        name: Its name in ``AVATAR_<NAME>_*`` variables and logs.
        package: ``python -m <package>`` serves it (part of the gateway unit, extra ``web``).
        port: Its default HTTP port.
        metrics_port: Its default ``/metrics`` port.
    """

    name: str
    package: str
    port: int
    metrics_port: int


WEB = WebFront("web", "avatar_gateway.web", DEFAULT_WEB_PORT, DEFAULT_WEB_METRICS_PORT)
"""The web front that ``avatar up`` starts after the gateway."""
