"""Runs any of the servers in-process on a free port, configured like a deployment."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping

from avatar_core.server import AvatarServer, running_server
from avatar_devtools.units import UNITS


@contextlib.asynccontextmanager
async def in_process_server(
    service: str, environment: Mapping[str, str] | None = None
) -> AsyncIterator[AvatarServer]:
    """Starts ``service`` in this process on 127.0.0.1, a free port, metrics on a free port.

    Args:
        service: "llm", "tts", "animator", "enhancer" or "gateway".
        environment: Extra ``AVATAR_*`` variables, as a deployment would set them.
    """
    unit = UNITS[service]
    prefix = f"AVATAR_{service.upper()}_"
    environ = {f"{prefix}HOST": "127.0.0.1", f"{prefix}PORT": "0", f"{prefix}METRICS_PORT": "0"}
    environ.update(environment or {})
    config_type = unit.config_type()
    create_service = unit.create_service()
    config = config_type.from_env(environ)
    async with running_server(
        config.server, lambda registry: create_service(config, registry)
    ) as server:
        yield server
