"""Runs any of the servers in-process on a free port, configured like a deployment."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator, Mapping

from avatar.core.server import AvatarServer, running_server

_CONFIGS = {
    "llm": ("avatar.services.llm.config", "LlmConfig", "avatar.services.llm.servicer"),
    "tts": ("avatar.services.tts.config", "TtsConfig", "avatar.services.tts.servicer"),
    "animator": (
        "avatar.services.animator.config",
        "AnimatorConfig",
        "avatar.services.animator.servicer",
    ),
    "enhancer": (
        "avatar.services.enhancer.config",
        "EnhancerConfig",
        "avatar.services.enhancer.servicer",
    ),
    "gateway": ("avatar.gateway.config", "GatewayConfig", "avatar.gateway.service"),
}


@contextlib.asynccontextmanager
async def in_process_server(
    service: str, environment: Mapping[str, str] | None = None
) -> AsyncIterator[AvatarServer]:
    """Starts ``service`` in this process on 127.0.0.1, a free port, metrics on a free port.

    Args:
        service: "llm", "tts", "animator", "enhancer" or "gateway".
        environment: Extra ``AVATAR_*`` variables, as a deployment would set them.
    """
    config_module, config_class, servicer_module = _CONFIGS[service]
    prefix = f"AVATAR_{service.upper()}_"
    environ = {f"{prefix}HOST": "127.0.0.1", f"{prefix}PORT": "0", f"{prefix}METRICS_PORT": "0"}
    environ.update(environment or {})
    config_type = getattr(importlib.import_module(config_module), config_class)
    create_service = importlib.import_module(servicer_module).create_service
    config = config_type.from_env(environ)
    async with running_server(
        config.server, lambda registry: create_service(config, registry)
    ) as server:
        yield server
