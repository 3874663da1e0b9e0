"""Configuration of the web front, from ``AVATAR_WEB_*`` variables and the command line."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from avatar_core.config import DEFAULT_PORTS, ClientTls, ConfigError, EnvReader, secret_from_env

DEFAULT_WEB_PORT = 8080
DEFAULT_WEB_METRICS_PORT = 9080
VIDEO_AHEAD_SECONDS = 0.0
"""How much earlier than their sound live frames are sent, by default: none, so the two
arrive together and the page holds the frames as long as their sound takes."""
VIDEO_PLAYOUT_DELAY_MS: tuple[int, int] | None = None
"""How long the browser may hold our frames before it shows them (least, most), by default
no bound: the page holds the video as long as its sound takes to the speaker
(``static/sync.js``), which a bound would limit. A fixed hold cannot follow the browser's
audio buffer, which follows the machine's load: held 90 ms, the picture came 50-80 ms
late on a quiet machine and up to 85 ms early at load 3 (benchmarks/browser.py)."""


@dataclass(frozen=True, slots=True)
class WebConfig:
    """Web front settings.

    Attributes:
        host: Address the HTTP server listens on.
        port: HTTP port of the page and its API; 0 picks a free one (tests).
        metrics_port: Port of the Prometheus ``/metrics`` endpoint; 0 picks a free one,
            -1 disables it.
        gateway_address: ``host:port`` of the gateway.
        gateway_tls: TLS settings to reach the gateway (``AVATAR_WEB_TLS_CA``,
            ``_TLS_CLIENT_CERT``, ``_TLS_CLIENT_KEY``, ``_TLS_SERVER_NAME``); None talks
            plaintext.
        gateway_token: Bearer token sent to the gateway when the page sends none
            (``AVATAR_WEB_GATEWAY_TOKEN`` or ``_FILE``). Kept out of ``repr``.
        max_upload_bytes: Largest photo the page may upload.
        max_sessions: Live sessions this process holds at once; more get 503.
        retry_after_seconds: Back-off told to a page refused for lack of room.
        session_start_timeout_seconds: Longest wait for the gateway to start a session.
        ice_servers: STUN or TURN URLs both peers use (``AVATAR_WEB_ICE_SERVERS``, comma
            separated); empty when the browser reaches this host directly.
        ice_username: TURN user name (``AVATAR_WEB_ICE_USERNAME``).
        ice_credential: TURN password (``AVATAR_WEB_ICE_CREDENTIAL``); kept out of ``repr``.
        video_ahead_seconds: How much earlier than their sound live frames are sent
            (``AVATAR_WEB_VIDEO_AHEAD_SECONDS``), for a client that holds video longer
            than audio; the page holds each as long as the other itself.
        video_playout_delay_ms: The least and most milliseconds the browser may hold our
            frames before it shows them (``AVATAR_WEB_VIDEO_PLAYOUT_DELAY_MS``, ``MIN-MAX``,
            one number for both, or ``off``, the default: the page's own hold alone), sent
            with every frame in WebRTC's playout-delay header extension.
    """

    host: str = "127.0.0.1"
    port: int = DEFAULT_WEB_PORT
    metrics_port: int = DEFAULT_WEB_METRICS_PORT
    gateway_address: str = f"127.0.0.1:{DEFAULT_PORTS['gateway']}"
    gateway_tls: ClientTls | None = None
    gateway_token: str = field(default="", repr=False)
    max_upload_bytes: int = 10 * 1024 * 1024
    max_sessions: int = 16
    retry_after_seconds: int = 5
    session_start_timeout_seconds: float = 30.0
    ice_servers: tuple[str, ...] = ()
    ice_username: str = ""
    ice_credential: str = field(default="", repr=False)
    video_ahead_seconds: float = VIDEO_AHEAD_SECONDS
    video_playout_delay_ms: tuple[int, int] | None = VIDEO_PLAYOUT_DELAY_MS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WebConfig:
        """Reads and validates the settings.

        Raises:
            avatar_core.config.ConfigError: A value is malformed or out of range.
        """
        env = EnvReader("AVATAR_WEB_", environ)
        gateway = EnvReader("AVATAR_", environ).string(
            "GATEWAY", f"127.0.0.1:{DEFAULT_PORTS['gateway']}"
        )
        return cls(
            host=env.string("HOST", "127.0.0.1"),
            port=env.integer("PORT", DEFAULT_WEB_PORT, minimum=0, maximum=65535),
            metrics_port=env.integer(
                "METRICS_PORT", DEFAULT_WEB_METRICS_PORT, minimum=-1, maximum=65535
            ),
            gateway_address=env.string("GATEWAY_ADDRESS", gateway),
            gateway_tls=ClientTls.from_env(env),
            gateway_token=secret_from_env(env, "GATEWAY_TOKEN"),
            max_upload_bytes=env.integer(
                "MAX_UPLOAD_BYTES", 10 * 1024 * 1024, minimum=1024, maximum=1 << 30
            ),
            max_sessions=env.integer("MAX_SESSIONS", 16, minimum=1, maximum=10_000),
            retry_after_seconds=env.integer("RETRY_AFTER_SECONDS", 5, minimum=1, maximum=3600),
            session_start_timeout_seconds=env.number(
                "SESSION_START_TIMEOUT_SECONDS", 30.0, minimum=1.0, maximum=600.0
            ),
            ice_servers=_ice_urls(env),
            ice_username=env.string("ICE_USERNAME"),
            ice_credential=env.string("ICE_CREDENTIAL"),
            video_ahead_seconds=env.number(
                "VIDEO_AHEAD_SECONDS", VIDEO_AHEAD_SECONDS, minimum=0.0, maximum=0.5
            ),
            video_playout_delay_ms=_playout_delay(env),
        )

    def ice_servers_json(self) -> list[dict[str, str]]:
        """The ICE servers as the browser's ``RTCPeerConnection`` takes them."""
        servers = []
        for url in self.ice_servers:
            server = {"urls": url}
            if url.startswith(("turn:", "turns:")) and self.ice_username:
                server |= {"username": self.ice_username, "credential": self.ice_credential}
            servers.append(server)
        return servers

    def with_arguments(self, argv: Sequence[str] | None = None) -> WebConfig:
        """Returns these settings with the command line's ``--host``, ``--port``,
        ``--metrics-port`` and ``--gateway`` applied over them."""
        parser = argparse.ArgumentParser(
            prog="python -m avatar_gateway.web", description="The avatar web page."
        )
        parser.add_argument("--host", default=self.host, help="address to listen on")
        parser.add_argument("--port", type=int, default=self.port, help="HTTP port")
        parser.add_argument("--metrics-port", type=int, default=self.metrics_port)
        parser.add_argument(
            "--gateway", default=self.gateway_address, help="gateway address host:port"
        )
        args = parser.parse_args(argv)
        return replace(
            self,
            host=args.host,
            port=args.port,
            metrics_port=args.metrics_port,
            gateway_address=args.gateway,
        )


def _ice_urls(env: EnvReader) -> tuple[str, ...]:
    urls = tuple(url.strip() for url in env.string("ICE_SERVERS").split(",") if url.strip())
    for url in urls:
        if not url.startswith(("stun:", "turn:", "turns:")):
            raise ConfigError(
                f"{env.name('ICE_SERVERS')}: {url!r} is not a stun:, turn: or turns: URL"
            )
    return urls


def _playout_delay(env: EnvReader) -> tuple[int, int] | None:
    name = env.name("VIDEO_PLAYOUT_DELAY_MS")
    default = (
        "off" if VIDEO_PLAYOUT_DELAY_MS is None else "-".join(map(str, VIDEO_PLAYOUT_DELAY_MS))
    )
    text = env.string("VIDEO_PLAYOUT_DELAY_MS", default).strip().lower()
    if text in ("off", "none", ""):
        return None
    parts = text.split("-")
    try:
        low, high = (int(parts[0]), int(parts[-1])) if len(parts) <= 2 else (-1, -1)
    except ValueError:
        low, high = -1, -1
    if not 0 <= low <= high <= 10_000:
        raise ConfigError(
            f"{name}: {text!r} is not MIN-MAX milliseconds (0 <= MIN <= MAX <= 10000), "
            "one number, or off"
        )
    return low, high
