"""Configuration of the enhancer service, from ``AVATAR_ENHANCER_*`` variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from avatar_core.config import ConfigError, EnvReader, ServerConfig
from avatar_enhancer.engine import BACKENDS


@dataclass(frozen=True, slots=True)
class EnhancerConfig:
    """Enhancer settings.

    Attributes:
        server: Shared server settings (``AVATAR_ENHANCER_PORT`` etc.).
        default_backend: Backend used when a stream names none (``AVATAR_ENHANCER_BACKEND``).
        workers: Frames enhanced in parallel threads (``AVATAR_ENHANCER_WORKERS``).
    """

    server: ServerConfig
    default_backend: str = "opencv"
    workers: int = 2

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EnhancerConfig:
        """Reads and validates the settings."""
        env = EnvReader("AVATAR_ENHANCER_", environ)
        backend = env.string("BACKEND", "opencv")
        if backend not in BACKENDS:
            raise ConfigError(
                f"{env.name('BACKEND')}={backend!r} is unknown; available: {', '.join(BACKENDS)}"
            )
        return cls(
            server=ServerConfig.from_env("enhancer", environ),
            default_backend=backend,
            workers=env.integer("WORKERS", 2, minimum=1, maximum=64),
        )
