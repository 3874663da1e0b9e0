"""Typed configuration read from environment variables, validated at start.

Every server reads its settings from variables named ``AVATAR_<SERVICE>_<SETTING>``
(for example ``AVATAR_TTS_PORT``). A bad value fails fast with a message that names
the variable, so a misconfigured deployment never reaches SERVING.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PORTS = {
    "gateway": 50051,
    "llm": 50052,
    "tts": 50053,
    "animator": 50054,
    "enhancer": 50055,
    "asr": 50056,
}
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

    def pem_file(self, key: str) -> Path | None:
        """Returns the path of a PEM file setting, checked to be a readable PEM file."""
        text = self.string(key)
        if not text:
            return None
        path = Path(text)
        try:
            head = path.read_bytes()[:65536]
        except OSError as error:
            raise ConfigError(f"{self.name(key)}={text!r}: {error.strerror}") from None
        if b"-----BEGIN " not in head:
            raise ConfigError(f"{self.name(key)}={text!r} is not a PEM file")
        return path

    def _in_range(self, key, value, minimum, maximum):
        if minimum is not None and value < minimum:
            raise ConfigError(f"{self.name(key)}={value} is below the minimum {minimum}")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{self.name(key)}={value} is above the maximum {maximum}")
        return value


@dataclass(frozen=True, slots=True)
class ServerTls:
    """TLS of a server: its certificate, and the CA of its clients for mutual TLS.

    Attributes:
        cert_file: PEM certificate chain of the server.
        key_file: PEM private key of the server.
        client_ca_file: PEM CA bundle; when set, clients must present a certificate
            signed by it (mutual TLS).
    """

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None

    @classmethod
    def from_env(cls, env: EnvReader) -> ServerTls | None:
        """Reads ``TLS_CERT``, ``TLS_KEY`` and ``TLS_CLIENT_CA``; None when TLS is off."""
        cert, key, client_ca = (env.pem_file(k) for k in ("TLS_CERT", "TLS_KEY", "TLS_CLIENT_CA"))
        if cert is None and key is None:
            if client_ca is not None:
                raise ConfigError(
                    f"{env.name('TLS_CLIENT_CA')} needs {env.name('TLS_CERT')} and "
                    f"{env.name('TLS_KEY')}: mutual TLS is TLS with client certificates"
                )
            return None
        if cert is None or key is None:
            raise ConfigError(
                f"set both {env.name('TLS_CERT')} and {env.name('TLS_KEY')} (or neither)"
            )
        return cls(cert_file=cert, key_file=key, client_ca_file=client_ca)


@dataclass(frozen=True, slots=True)
class ClientTls:
    """TLS of a client: the CA that signed the server, and a certificate for mutual TLS.

    Attributes:
        ca_file: PEM CA bundle that verifies the server; None uses the system roots.
        cert_file: PEM certificate chain the client presents (mutual TLS).
        key_file: PEM private key of ``cert_file``.
        server_name: Name to verify in the server's certificate instead of the host
            of the address (e.g. when connecting by IP address).
    """

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    server_name: str = ""

    def __post_init__(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise ConfigError("a client certificate needs its key, and a key its certificate")

    @classmethod
    def from_env(cls, env: EnvReader) -> ClientTls | None:
        """Reads ``TLS_CA``, ``TLS_CLIENT_CERT``, ``TLS_CLIENT_KEY``, ``TLS_SERVER_NAME``.

        Returns:
            None (plaintext) when neither a CA nor a client certificate is set.
        """
        ca, cert, key = (env.pem_file(k) for k in ("TLS_CA", "TLS_CLIENT_CERT", "TLS_CLIENT_KEY"))
        if (cert is None) != (key is None):
            raise ConfigError(
                f"set both {env.name('TLS_CLIENT_CERT')} and {env.name('TLS_CLIENT_KEY')} "
                "(or neither)"
            )
        if ca is None and cert is None:
            return None
        return cls(
            ca_file=ca, cert_file=cert, key_file=key, server_name=env.string("TLS_SERVER_NAME")
        )


def secret_from_env(env: EnvReader, key: str) -> str:
    """Reads a secret from ``<key>`` or from the file named by ``<key>_FILE``.

    Returns:
        The secret, or "" when neither is set.

    Raises:
        ConfigError: Both are set, the file cannot be read, or it is empty. The
            message names the variable, never the secret.
    """
    inline, path = env.raw(key), env.string(f"{key}_FILE")
    if inline is not None and path:
        raise ConfigError(f"set {env.name(key)} or {env.name(key + '_FILE')}, not both")
    if path:
        try:
            secret = Path(path).read_text().strip()
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(
                f"{env.name(key + '_FILE')}={path!r}: cannot read it ({error})"
            ) from None
        if not secret:
            raise ConfigError(f"{env.name(key + '_FILE')}={path!r} is empty")
        return secret
    return (inline or "").strip()


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
        max_concurrent_rpcs: Calls served at once; further calls get RESOURCE_EXHAUSTED
            at once (health checks do not count).
        retry_after_ms: Back-off suggested to callers refused for overload.
        grace_seconds: How long in-flight calls may finish after SIGTERM.
        reflection: Whether server reflection is on (off in production).
        tls: TLS (and mutual TLS) settings; None serves plaintext.
    """

    service: str
    host: str = "0.0.0.0"
    port: int = 0
    metrics_port: int = -1
    max_message_bytes: int = 8 * 1024 * 1024
    max_concurrent_rpcs: int = 64
    retry_after_ms: int = 1000
    grace_seconds: float = 10.0
    reflection: bool = True
    tls: ServerTls | None = None

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
            retry_after_ms=env.integer("RETRY_AFTER_MS", 1000, minimum=0, maximum=3_600_000),
            grace_seconds=env.number("GRACE_SECONDS", 10.0, minimum=0.0),
            reflection=env.boolean("REFLECTION", not production),
            tls=ServerTls.from_env(env),
        )
