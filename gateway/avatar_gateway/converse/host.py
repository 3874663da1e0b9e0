"""Opens live sessions: the session cap, the config, the avatar, the voice, the idle loop.

:meth:`SessionHost.serve` runs one ``Converse`` call from its first message to its
end. The first message must be the config; it is checked before any work (bad values:
INVALID_ARGUMENT), then the avatar (unknown: NOT_FOUND; damaged: DATA_LOSS), chat
(a session in CHAT mode without an LLM: FAILED_PRECONDITION), the voice against the
tts service's list (unknown or not loaded: INVALID_ARGUMENT; tts down: UNAVAILABLE
naming it; the session runs at the voice's sample rate), and the idle loop is fetched
from the shared cache or rendered. At most ``max_sessions`` sessions live at once;
one more is refused with RESOURCE_EXHAUSTED at once, before its config is read.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import grpc

from avatar.common.v1 import media_pb2
from avatar.gateway.v1 import gateway_pb2
from avatar.tts.v1 import tts_pb2
from avatar_gateway.clients import StageError
from avatar_gateway.config import GatewayConfig
from avatar_gateway.converse.clock import SessionClock
from avatar_gateway.converse.idle import IdleLoopCache, IdleLoopKey
from avatar_gateway.converse.listen import ListenSettings
from avatar_gateway.converse.session import ConverseSession
from avatar_gateway.converse.settings import Receive, Send, SessionError, SessionSettings
from avatar_gateway.converse.turn import TurnRunner
from avatar_gateway.metrics import GatewayMetrics
from avatar_gateway.pipeline import Clients, SpeakPlan
from avatar_gateway.store import (
    AvatarDamagedError,
    AvatarNotFoundError,
    AvatarRecord,
    AvatarStore,
)
from avatar_gateway.turns import ChatTurns
from avatar_gateway.validation import converse_config_problem

RETRY_AFTER_METADATA = "retry-after-seconds"
"""Trailing metadata of a refused session: seconds after which to try again."""

# Longest wait for the tts service's voice list when a session opens.
VOICES_TIMEOUT_SECONDS = 10.0


class SessionHost:
    """Serves the gateway's live sessions.

    Args:
        config: Gateway settings (limits, fps, idle loop length and cache size).
        clients: The downstream services.
        store: The avatar store.
        chat_turns: The conversation store's turns.
        metrics: The gateway's metrics.
    """

    def __init__(
        self,
        config: GatewayConfig,
        clients: Clients,
        store: AvatarStore,
        chat_turns: ChatTurns,
        metrics: GatewayMetrics,
    ) -> None:
        self._config = config
        self._clients = clients
        self._store = store
        self._chat_turns = chat_turns
        self._metrics = metrics
        self.idle_loops = IdleLoopCache(
            clients,
            idle_seconds=config.idle_clip_seconds,
            max_bytes=config.idle_cache_bytes,
            on_render=metrics.idle_loop_renders.inc,
        )
        self._live = 0

    @property
    def live_sessions(self) -> int:
        """Sessions being served now."""
        return self._live

    async def serve(
        self, receive: Receive, send: Send, time_remaining: Callable[[], float | None]
    ) -> None:
        """Runs one session from its first message to its end.

        Args:
            receive: The client's next message (None at the end of its stream).
            send: Sends an event to the client.
            time_remaining: Seconds left until the call's deadline (None: none).

        Raises:
            SessionError: The session was refused or ended with a status.
        """
        limit = self._config.max_sessions
        if self._live >= limit:
            self._metrics.converse_sessions_refused.inc()
            retry = self._config.session_retry_seconds
            raise SessionError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"busy: {limit} live sessions; retry in {retry} s",
                ((RETRY_AFTER_METADATA, str(retry)),),
            )
        self._live += 1
        self._metrics.converse_sessions.inc()
        try:
            settings = await self._open(await receive())
            runner = TurnRunner(
                self._clients, self._chat_turns, time_remaining, self._config.sentences_ahead
            )
            clock = SessionClock(
                settings.template.fps,
                settings.sample_rate,
                lead_seconds=self._config.session_lead_seconds,
            )
            await ConverseSession(settings, runner, self._metrics, receive, send, clock).run()
        finally:
            self._live -= 1
            self._metrics.converse_sessions.dec()

    async def _open(self, first: gateway_pb2.ConverseRequest | None) -> SessionSettings:
        """Checks the config and resolves the avatar, the voice and the idle loop."""
        if first is None:
            raise SessionError(
                grpc.StatusCode.INVALID_ARGUMENT, "the stream ended before its ConverseConfig"
            )
        kind = first.WhichOneof("message")
        if kind != "config":
            raise SessionError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"the first message must be a ConverseConfig, not {kind or 'an empty message'}",
            )
        config = first.config
        problem = converse_config_problem(config)
        if problem:
            raise SessionError(grpc.StatusCode.INVALID_ARGUMENT, problem)
        record, photo = await self._avatar(config.avatar_id)
        if config.mode == gateway_pb2.SPEAK_MODE_CHAT and not self._config.llm_address:
            raise SessionError(
                grpc.StatusCode.FAILED_PRECONDITION,
                "chat needs an LLM: set AVATAR_GATEWAY_LLM_ADDRESS to the llm service",
            )
        voice = await self._voice(config.voice)
        template = SpeakPlan(
            text="",
            chat=False,
            high_quality=config.quality == gateway_pb2.QUALITY_HIGH,
            voice=voice.name,
            conversation_id=config.conversation_id,
            content_hash=record.content_hash,
            photo=photo,
            fps=config.fps or self._config.fps,
            frame_encoding=config.frame_encoding or media_pb2.FRAME_ENCODING_JPEG,
            motion=media_pb2.MotionSettings(),
            loop_frames=self.idle_loops.loop_frames(config.fps or self._config.fps),
        )
        key = IdleLoopKey(
            template.content_hash, template.fps, template.frame_encoding, template.high_quality
        )
        try:
            idle = await self.idle_loops.get(key, photo)
        except StageError as error:
            self._metrics.errors.labels(error.stage, error.code.name).inc()
            raise SessionError(error.code, f"the idle loop cannot be rendered: {error}") from None
        return SessionSettings(
            session_id=uuid.uuid4().hex,
            template=template,
            mode=config.mode or gateway_pb2.SPEAK_MODE_SPEAK,
            sample_rate=voice.sample_rate,
            frame_width=idle.width or record.frame_width,
            frame_height=idle.height or record.frame_height,
            idle=idle,
            chat_available=bool(self._config.llm_address),
            max_text_chars=self._config.max_text_chars,
            listen=_listen_settings(config),
        )

    async def _avatar(self, avatar_id: str) -> tuple[AvatarRecord, bytes]:
        try:
            record = await asyncio.to_thread(self._store.get, avatar_id)
            photo = await asyncio.to_thread(self._store.photo, avatar_id)
        except AvatarNotFoundError as error:
            raise SessionError(
                grpc.StatusCode.NOT_FOUND, f"{error}; create it with CreateAvatar"
            ) from None
        except AvatarDamagedError as error:
            raise SessionError(grpc.StatusCode.DATA_LOSS, str(error)) from None
        return record, photo

    async def _voice(self, name: str) -> tts_pb2.Voice:
        """The voice the session speaks with: the named one, or the default."""
        try:
            voices = await self._clients.tts.list_voices(VOICES_TIMEOUT_SECONDS)
        except StageError as error:
            self._metrics.errors.labels(error.stage, error.code.name).inc()
            raise SessionError(error.code, str(error)) from None
        wanted = name or voices.default_voice
        for voice in voices.voices:
            if voice.name == wanted:
                break
        else:
            known = ", ".join(v.name for v in voices.voices if v.available) or "none"
            raise SessionError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"unknown voice {wanted!r}; the voices are: {known} (see ListVoices)",
            )
        if not voice.available or not voice.sample_rate:
            reason = f": {voice.error}" if voice.error else ""
            raise SessionError(
                grpc.StatusCode.INVALID_ARGUMENT, f"voice {wanted!r} is not available{reason}"
            )
        return voice


def _listen_settings(config: gateway_pb2.ConverseConfig) -> ListenSettings:
    """How the session listens: its listen settings; speech turns in its mode, else CHAT."""
    listen = config.listen
    return ListenSettings(
        language=listen.language.strip().lower(),
        end_of_speech_ms=listen.end_of_speech_ms,
        barge_in=not listen.barge_in_off,
        interim_results=listen.interim_results,
        speech_mode=config.mode or gateway_pb2.SPEAK_MODE_CHAT,
    )
