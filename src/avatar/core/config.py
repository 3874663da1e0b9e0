"""Typed configuration read from environment variables, validated at start.

Every server reads its settings from variables named ``AVATAR_<SERVICE>_<SETTING>``
(for example ``AVATAR_TTS_PORT``). A bad value fails fast with a message that names
the variable, so a misconfigured deployment never reaches SERVING.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_PORTS = {"gateway": 50051, "llm": 50052, "tts": 50053, "animator": 50054, "enhancer": 50055}
DEFAULT_METRICS_PORTS = {name: port - 41000 for name, port in DEFAULT_PORTS.items()}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the variable."""


class EnvReader:
    """Reads typed settings with a common prefix from an environment mapping.

    Args:
        prefix: Variable prefix, e.g. ``"AVATAR_TTS_"``.
        environ: Mapping to read; ``os.environ`` when omitted.
    """

    def __init__(self, prefix: str, environ: Mapping[str, str] | None = None) -> None:
        self.prefix = prefix
        self._environ = os.environ if environ is None else environ

    def name(self, key: str) -> str:
        """Returns the full variable name of ``key``."""
        return f"{self.prefix}{key}"

    def raw(self, key: str) -> str | None:
        """Returns the variable's text, or None when it is not set."""
        return self._environ.get(self.name(key))

    def string(self, key: str, default: str = "") -> str:
        """Returns a text setting, stripped of surrounding white space."""
        value = self.raw(key)
        return default if value is None else value.strip()

    def integer(
        self, key: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        """Returns a whole-number setting within ``[minimum, maximum]``."""
        text = self.raw(key)
        if text is None or not text.strip():
            return default
        try:
            value = int(text.strip())
        except ValueError:
            raise ConfigError(f"{self.name(key)}={text!r} is not a whole number") from None
        return self._in_range(key, value, minimum, maximum)

    def number(
        self,
        key: str,
        default: float,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float:
        """Returns a real-number setting within ``[minimum, maximum]``."""
        text = self.raw(key)
        if text is None or not text.strip():
            return default
        try:
            value = float(text.strip())
        except ValueError:
            raise ConfigError(f"{self.name(key)}={text!r} is not a number") from None
        return self._in_range(key, value, minimum, maximum)

    def boolean(self, key: str, default: bool) -> bool:
        """Returns a yes/no setting (1/0, true/false, yes/no, on/off)."""
        text = self.raw(key)
        if text is None:
            return default
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigError(f"{self.name(key)}={text!r} is not a yes/no value (use true or false)")

    def _in_range(self, key, value, minimum, maximum):
        if minimum is not None and value < minimum:
            raise ConfigError(f"{self.name(key)}={value} is below the minimum {minimum}")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{self.name(key)}={value} is above the maximum {maximum}")
        return value


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Settings every server shares.

    Attributes:
        service: Short service name ("tts", "gateway", ...), used in logs and metrics.
        host: Address to listen on.
        port: gRPC port; 0 picks a free one (tests).
        metrics_port: Port of the Prometheus ``/metrics`` endpoint; 0 picks a free
            one, -1 disables it.
        max_message_bytes: Largest message accepted or sent, both directions.
        max_concurrent_rpcs: Calls served at once; further calls get RESOURCE_EXHAUSTED.
        grace_seconds: How long in-flight calls may finish after SIGTERM.
        reflection: Whether server reflection is on (off in production).
    """

    service: str
    host: str = "0.0.0.0"
    port: int = 0
    metrics_port: int = -1
    max_message_bytes: int = 8 * 1024 * 1024
    max_concurrent_rpcs: int = 64
    grace_seconds: float = 10.0
    reflection: bool = True

    @classmethod
    def from_env(cls, service: str, environ: Mapping[str, str] | None = None) -> ServerConfig:
        """Reads ``AVATAR_<SERVICE>_{HOST,PORT,METRICS_PORT,...}`` with the defaults above."""
        env = EnvReader(f"AVATAR_{service.upper()}_", environ)
        production = EnvReader("AVATAR_", environ).boolean("PRODUCTION", False)
        return cls(
            service=service,
            host=env.string("HOST", "0.0.0.0"),
            port=env.integer("PORT", DEFAULT_PORTS[service], minimum=0, maximum=65535),
            metrics_port=env.integer(
                "METRICS_PORT", DEFAULT_METRICS_PORTS[service], minimum=-1, maximum=65535
            ),
            max_message_bytes=env.integer(
                "MAX_MESSAGE_BYTES", 8 * 1024 * 1024, minimum=64 * 1024, maximum=1 << 30
            ),
            max_concurrent_rpcs=env.integer("MAX_CONCURRENT_RPCS", 64, minimum=1),
            grace_seconds=env.number("GRACE_SECONDS", 10.0, minimum=0.0),
            reflection=env.boolean("REFLECTION", not production),
        )
