"""The live sessions of this process, with a cap."""

from __future__ import annotations

import asyncio
import secrets

from aiortc import RTCIceServer

from avatar_gateway.web.config import VIDEO_AHEAD_SECONDS
from avatar_gateway.web.gateway_client import GatewayConnection
from avatar_gateway.web.metrics import WebMetrics
from avatar_gateway.web.session import LiveSession, SessionSettings


class SessionsFull(Exception):
    """This process holds as many live sessions as it may."""


class Sessions:
    """Every live session by id.

    Args:
        gateway: The connection sessions open their streams on.
        metrics: The web metrics (the live-session gauge among them).
        max_sessions: Most live sessions at once.
        ice_servers: STUN/TURN servers of every peer connection.
        video_ahead_seconds: How much earlier than their sound frames are sent.
        video_playout_delay_ms: How long the browser may hold frames (least, most), or None.
    """

    def __init__(
        self,
        gateway: GatewayConnection,
        metrics: WebMetrics,
        max_sessions: int,
        ice_servers: tuple[RTCIceServer, ...] = (),
        video_ahead_seconds: float = VIDEO_AHEAD_SECONDS,
        video_playout_delay_ms: tuple[int, int] | None = None,
    ) -> None:
        self.ice_servers = ice_servers
        self.video_ahead_seconds = video_ahead_seconds
        self.video_playout_delay_ms = video_playout_delay_ms
        self.gateway = gateway
        self.metrics = metrics
        self.max_sessions = max_sessions
        self.live: dict[str, LiveSession] = {}

    def open(self, settings: SessionSettings, token: str) -> LiveSession:
        """Makes a new session (not yet started) and counts it as live.

        Raises:
            SessionsFull: There is no room for another.
        """
        if len(self.live) >= self.max_sessions:
            raise SessionsFull
        session_id = secrets.token_urlsafe(12)
        session = LiveSession(
            session_id,
            settings,
            self.gateway,
            token,
            self.metrics,
            self._forget,
            ice_servers=self.ice_servers,
            video_ahead_seconds=self.video_ahead_seconds,
            video_playout_delay_ms=self.video_playout_delay_ms,
        )
        self.live[session_id] = session
        self.metrics.live_sessions.set(len(self.live))
        return session

    def get(self, session_id: str) -> LiveSession | None:
        """The live session with this id, if any."""
        return self.live.get(session_id)

    def _forget(self, session: LiveSession) -> None:
        self.live.pop(session.session_id, None)
        self.metrics.live_sessions.set(len(self.live))

    async def close_all(self) -> None:
        """Closes every session (the process is stopping)."""
        await asyncio.gather(*(s.close("the server is stopping") for s in list(self.live.values())))
