"""One live session: a browser's peer connection and its Converse stream to the gateway.

The session opens the Converse stream first (so a busy gateway, an unknown avatar or a
missing token is answered before any WebRTC work), then answers the browser's offer
with one audio track, one video track and the data channel ``events``. Whatever ends
first - the page (DELETE, a closed data channel, a failed or closed connection), the
gateway's stream, or this process - closes everything else: the stream is cancelled,
so every downstream call of the gateway ends with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription

from avatar.gateway.v1 import gateway_pb2
from avatar_gateway.web.config import VIDEO_AHEAD_SECONDS
from avatar_gateway.web.encoded import OpusPacketTrack
from avatar_gateway.web.gateway_client import GatewayConnection
from avatar_gateway.web.metrics import WebMetrics
from avatar_gateway.web.microphone import Microphone, SpeechEvents, hurry_receiver
from avatar_gateway.web.playout import bound_video_delay, negotiate_playout_delay
from avatar_gateway.web.timeline import SessionClock
from avatar_gateway.web.tracks import SessionAudioTrack, SessionVideoTrack

LOG = logging.getLogger("avatar.web.session")
OUTCOMES = {
    gateway_pb2.TURN_OUTCOME_DONE: "done",
    gateway_pb2.TURN_OUTCOME_INTERRUPTED: "interrupted",
    gateway_pb2.TURN_OUTCOME_FAILED: "error",
}
MODE_NAMES = {
    gateway_pb2.SPEAK_MODE_SPEAK: "speak",
    gateway_pb2.SPEAK_MODE_CHAT: "chat",
    gateway_pb2.SPEAK_MODE_AUTO: "auto",
}
MODES = {name: mode for mode, name in MODE_NAMES.items()}
"""The modes of a turn by the page's names for them."""
# A peer that has not connected this long after its answer never will (a page closed
# while connecting): its session is let go.
CONNECT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """What a page asked for when it opened the session.

    Attributes:
        avatar_id: The avatar to show.
        voice: TTS voice; empty for the default.
        quality: ``gateway_pb2.Quality`` value.
        mode: ``gateway_pb2.SpeakMode`` value of turns that name none.
    """

    avatar_id: str
    voice: str
    quality: int
    mode: int


class LiveSession:
    """A browser peer fed by one Converse stream.

    Args:
        session_id: The id in the session's URL.
        settings: Avatar, voice, quality and mode.
        gateway: The connection to the gateway.
        token: The page's bearer token for the gateway ("" for none).
        metrics: Where latencies are observed.
        on_closed: Called once when the session has closed.
        ice_servers: STUN/TURN servers for the peer connection.
        video_ahead_seconds: How much earlier than their sound frames are sent.
        video_playout_delay_ms: How long the browser may hold frames (least, most), or None
            to leave it to the browser.
    """

    def __init__(
        self,
        session_id: str,
        settings: SessionSettings,
        gateway: GatewayConnection,
        token: str,
        metrics: WebMetrics,
        on_closed: Callable[[LiveSession], None],
        ice_servers: tuple[RTCIceServer, ...] = (),
        video_ahead_seconds: float = VIDEO_AHEAD_SECONDS,
        video_playout_delay_ms: tuple[int, int] | None = None,
    ) -> None:
        self.ice_servers = ice_servers
        self.video_ahead_seconds = video_ahead_seconds
        self.video_playout_delay_ms = video_playout_delay_ms
        self.session_id = session_id
        self.settings = settings
        self.gateway = gateway
        self.token = token
        self.metrics = metrics
        self.on_closed = on_closed
        self.requests: asyncio.Queue[gateway_pb2.ConverseRequest | None] = asyncio.Queue()
        self.call: grpc.aio.StreamStreamCall | None = None
        self.started: gateway_pb2.ConverseStarted | None = None
        self.pc: RTCPeerConnection | None = None
        self.channel: Any = None
        self.pending_events: list[str] = []
        self.clock = SessionClock()
        self.audio: SessionAudioTrack | None = None
        self.video: SessionVideoTrack | None = None
        self.tasks: list[asyncio.Task] = []
        self.closed = False
        self.offer_at = time.monotonic()
        self.turn_clients: dict[int, str] = {}
        self.turn_arrivals: dict[str, float] = {}
        self.audio_received: dict[int, float] = {}  # turn -> when its first audio came
        self.receiving_turn = 0
        self.turn_texts: dict[str, str] = {}
        self.audio_turn = 0
        self.barge_in_at: float | None = None
        self.next_client_turn = 0
        self.last_shift = 0.0
        self.speech = SpeechEvents(metrics, self.emit)

    async def start(self, timeout: float) -> gateway_pb2.ConverseStarted:
        """Opens the Converse stream and waits for the gateway to start the session.

        Raises:
            grpc.aio.AioRpcError: The gateway refused (busy, unknown avatar, no token...).
            TimeoutError: The gateway did not start the session within ``timeout``.
        """
        config = gateway_pb2.ConverseConfig(
            avatar_id=self.settings.avatar_id,
            voice=self.settings.voice,
            quality=self.settings.quality,
            mode=self.settings.mode,
            listen=gateway_pb2.ConverseListen(interim_results=True),
        )
        self.requests.put_nowait(gateway_pb2.ConverseRequest(config=config))
        self.call = self.gateway.converse(self._request_stream(), self.token)
        try:
            first = await asyncio.wait_for(self.call.read(), timeout)
        except BaseException:
            self.call.cancel()
            raise
        if first is grpc.aio.EOF or first.WhichOneof("event") != "started":
            self.call.cancel()
            raise ConnectionError("the gateway ended the session before it started")
        self.started = first.started
        fps = first.started.fps or 25.0
        self.audio = SessionAudioTrack(
            self.clock,
            first.started.sample_rate,
            fps,
            self._media_started,
            self._underrun,
        )
        self.video = SessionVideoTrack(
            self.clock, fps, self._media_started, self._shifted, self.video_ahead_seconds
        )
        return first.started

    async def answer(self, offer_sdp: str) -> str:
        """Answers the page's SDP offer and starts relaying the stream; returns the answer.

        Raises:
            ValueError: The offer is not a usable SDP offer.
        """
        assert self.audio is not None and self.video is not None
        # With no ICE servers configured the page and this server reach each other directly
        # (aiortc's default would ask a public STUN server).
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=list(self.ice_servers)))
        self.pc.on("connectionstatechange", self._connection_state_changed)
        self.channel = self.pc.createDataChannel("events", negotiated=True, id=0)
        self.channel.on("open", self._flush_events)
        self.channel.on("close", lambda: self._close_soon("the page closed its data channel"))
        self.channel.on("message", self._channel_message)
        self.pc.on("track", self._remote_track)
        if self.video_playout_delay_ms is not None:
            negotiate_playout_delay()
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except (ValueError, KeyError, IndexError) as error:  # aiortc's answers to bad SDP
            raise ValueError(f"The browser's offer could not be read ({error}).") from None
        kinds = {t.kind for t in self.pc.getTransceivers()}
        if not {"audio", "video"} <= kinds:
            raise ValueError("The browser's offer must receive one audio and one video track.")
        self.pc.addTrack(OpusPacketTrack(self.audio))
        video_sender = self.pc.addTrack(self.video)
        delay = self.video_playout_delay_ms
        if delay is not None and not bound_video_delay(video_sender, *delay):
            LOG.warning(
                "session %s: this aiortc cannot bound the browser's video delay", self.session_id
            )
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self.tasks.append(asyncio.create_task(self._relay(), name=f"relay {self.session_id}"))
        self.tasks.append(asyncio.create_task(self._watch_connect(), name="connect watch"))
        return self.pc.localDescription.sdp

    async def send_turn(self, text: str, mode: int, client_turn_id: str) -> str:
        """Sends a turn to the gateway; it stops the turn that is playing. Returns its id."""
        if not client_turn_id:
            self.next_client_turn += 1
            client_turn_id = f"t{self.next_client_turn}"
        self.turn_arrivals[client_turn_id] = time.monotonic()
        if self.audio_turn:
            self.barge_in_at = time.monotonic()
        turn = gateway_pb2.ConverseTurn(text=text, mode=mode, client_turn_id=client_turn_id)
        await self.requests.put(gateway_pb2.ConverseRequest(turn=turn))
        return client_turn_id

    async def draft(self, text: str, mode: int) -> None:
        """Sends the text being typed to the gateway, which makes its first sentence's
        voice before the turn is sent (``ConverseDraft``)."""
        draft = gateway_pb2.ConverseDraft(text=text, mode=mode)
        await self.requests.put(gateway_pb2.ConverseRequest(draft=draft))

    async def interrupt(self) -> None:
        """Stops the turn that is playing: its sound and pictures held here at once (what
        the gateway has sent of them would play on), the rest through the gateway."""
        if self.audio_turn:
            self.barge_in_at = time.monotonic()
            if self.audio is not None and self.video is not None:
                self.audio.hush()
                self.video.drop_speech()
        await self.requests.put(
            gateway_pb2.ConverseRequest(interrupt=gateway_pb2.ConverseInterrupt())
        )

    def spoken(self, client_turn_id: str) -> str | None:
        """What the avatar said in a finished turn, or None when no such turn finished."""
        return self.turn_texts.get(client_turn_id)

    async def close(self, reason: str = "closed") -> None:
        """Ends the session: the stream, its tasks, the peer connection. Idempotent."""
        if self.closed:
            return
        self.closed = True
        LOG.info("session %s closing: %s", self.session_id, reason)
        self.requests.put_nowait(None)
        if self.call is not None:
            self.call.cancel()
        for track in (self.audio, self.video):
            if track is not None:
                track.close()
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()
        if self.pc is not None:
            with contextlib.suppress(Exception):
                await self.pc.close()
        for task in self.tasks:
            if task is not current:
                with contextlib.suppress(BaseException):
                    await task
        self.on_closed(self)

    def _remote_track(self, track: Any) -> None:
        """The page's microphone (its audio transceiver is sendrecv): relayed to the gateway."""
        if track.kind != "audio" or self.speech.microphone is not None:
            return
        assert self.pc is not None
        for transceiver in self.pc.getTransceivers():
            if transceiver.receiver.track is track and not hurry_receiver(transceiver.receiver):
                LOG.warning(
                    "session %s: the microphone's receive buffer is aiortc's own: "
                    "80 ms more before each end of speech",
                    self.session_id,
                )
        microphone = Microphone(track, self.requests.put_nowait)
        self.speech.microphone = microphone
        self.tasks.append(asyncio.create_task(microphone.run(), name="microphone"))

    # The stream.

    async def _request_stream(self) -> AsyncIterator[gateway_pb2.ConverseRequest]:
        while (request := await self.requests.get()) is not None:
            yield request

    async def _relay(self) -> None:
        """Hands the gateway's audio and frames to the tracks and its events to the page."""
        assert self.call is not None and self.audio is not None and self.video is not None
        self.emit("session", **_started_fields(self.started))
        try:
            # read(), not iteration: the first response was read that way already, and
            # grpc.aio refuses to mix the two on one call.
            while (response := await self.call.read()) is not grpc.aio.EOF:
                kind = response.WhichOneof("event")
                if kind == "audio":
                    if response.turn != self.receiving_turn:
                        self.receiving_turn = response.turn
                        self.audio_received[response.turn] = time.monotonic()
                    self.audio.add(response.audio, response.turn)
                elif kind == "frames":
                    self.video.add(response.frames, response.turn)
                else:
                    self._event(kind, response)
        except asyncio.CancelledError:
            raise
        except grpc.aio.AioRpcError as error:
            if not self.closed:
                LOG.warning("session %s: gateway stream failed: %s", self.session_id, error.code())
                self.emit("error", message=_stream_error(error), fatal=True)
        self._close_soon("the gateway ended the session")

    def _event(self, kind: str | None, response: gateway_pb2.ConverseResponse) -> None:
        turn = response.turn
        if kind == "turn_started":
            started = response.turn_started
            # A speech turn has no client id: the page knows it by this one.
            client_turn_id = started.client_turn_id or (
                f"voice{turn}" if started.from_speech else ""
            )
            self.turn_clients[turn] = client_turn_id
            self.emit(
                "turn_started",
                turn=turn,
                client_turn_id=client_turn_id,
                text=started.text,
                mode=MODE_NAMES.get(started.mode, "speak"),
                from_speech=started.from_speech,
            )
        elif kind == "user_speech":
            self.speech.heard(response.user_speech)
        elif kind == "sentence":
            sentence = response.sentence
            self.emit(
                "sentence",
                turn=turn,
                client_turn_id=self.turn_clients.get(turn, ""),
                index=sentence.index,
                text=sentence.text,
                start_seconds=sentence.start_seconds,
                duration_seconds=sentence.duration_seconds,
                from_llm=sentence.from_llm,
            )
        elif kind == "turn_ended":
            self._turn_ended(turn, response.turn_ended)

    def _underrun(self, speech: bool) -> None:
        self.metrics.audio_underruns.labels("speech" if speech else "silence").inc()

    def _turn_ended(self, turn: int, ended: gateway_pb2.TurnEnded) -> None:
        if self.audio is not None:
            self.audio.turn_ended(turn)
        outcome = OUTCOMES.get(ended.outcome, "error")
        self.audio_received.pop(turn, None)
        client_turn_id = ended.client_turn_id or self.turn_clients.get(turn, "")
        self.metrics.turns.labels(outcome).inc()
        summary = ended.summary
        if outcome in ("done", "interrupted") and summary.spoken_text:
            self.turn_texts[client_turn_id] = summary.spoken_text
        message = ""
        if outcome == "error":
            message = ended.error_message or f"The turn failed ({ended.error_code})."
        self.emit(
            "turn_ended",
            turn=turn,
            client_turn_id=client_turn_id,
            outcome=outcome,
            start_frame=ended.start_frame,
            end_frame=ended.end_frame,
            error_code=ended.error_code,
            error=message,
            spoken_text=summary.spoken_text,
            time_to_first_audio_seconds=summary.time_to_first_audio_seconds,
            time_to_first_frame_seconds=summary.time_to_first_frame_seconds,
            total_seconds=summary.total_seconds,
            audio_seconds=summary.audio_seconds,
            real_time_factor=summary.real_time_factor,
        )

    def _media_started(self, kind: str, turn: int, position: int) -> None:
        """A track began sending a turn's media (or the idle loop's): timings and events."""
        now = time.monotonic()
        if kind == "onset":
            client_turn_id = self.turn_clients.get(turn, "")
            self.emit("speech_onset", turn=turn, client_turn_id=client_turn_id, position=position)
            return
        if kind == "video" and self.video is not None and position == self.video.first_index:
            self.metrics.offer_to_first_frame.observe(now - self.offer_at)
            self.emit(
                "video_started",
                first_frame_index=position,
                first_pts=self.video.pts(position),
                fps=self.video.fps,
            )
        if kind == "audio":
            if self.audio_turn and turn != self.audio_turn and self.barge_in_at is not None:
                self.metrics.barge_in.observe(now - self.barge_in_at)
                self.barge_in_at = None
            if turn != self.audio_turn:
                self.speech.first_audio(turn, now)
            self.audio_turn = turn
        if turn == 0:
            return
        client_turn_id = self.turn_clients.get(turn, "")
        arrival = self.turn_arrivals.get(client_turn_id)
        received = self.audio_received.pop(turn, None) if kind == "audio" else None
        if arrival is not None:
            histogram = (
                self.metrics.turn_to_first_audio
                if kind == "audio"
                else self.metrics.turn_to_first_frame
            )
            histogram.observe(now - arrival)
        self.emit(
            f"speech_{kind}",
            turn=turn,
            client_turn_id=client_turn_id,
            position=position,
            sent_after_seconds=(now - arrival) if arrival is not None else None,
            received_after_seconds=(
                received - arrival if arrival is not None and received is not None else None
            ),
        )

    def _shifted(self, pts: int, shift_seconds: float) -> None:
        """The content moved on the wire's time line (late audio, or a catch-up)."""
        if shift_seconds < self.last_shift:
            self.metrics.catch_ups.inc()
        self.last_shift = shift_seconds
        self.emit("clock_shift", pts=pts, shift_seconds=shift_seconds)

    # The page.

    def emit(self, event_type: str, **fields: Any) -> None:
        """Sends an event to the page over the data channel (held until it opens)."""
        message = json.dumps({"type": event_type, **fields})
        if self.channel is not None and self.channel.readyState == "open":
            self.channel.send(message)
        else:
            self.pending_events.append(message)

    def _flush_events(self) -> None:
        pending, self.pending_events = self.pending_events, []
        for message in pending:
            self.channel.send(message)

    def _channel_message(self, message: Any) -> None:
        """The page may send interrupts, drafts, listen and ping over the data channel."""
        try:
            data = json.loads(message)
        except (TypeError, ValueError):
            self.emit("error", message="The page sent a message that is not JSON.")
            return
        if not isinstance(data, dict):
            return
        if data.get("type") == "interrupt":
            asyncio.ensure_future(self.interrupt())
        elif data.get("type") == "draft":
            mode = MODES.get(str(data.get("mode") or ""), gateway_pb2.SPEAK_MODE_UNSPECIFIED)
            asyncio.ensure_future(self.draft(str(data.get("text") or ""), mode))
        elif data.get("type") == "listen" and self.speech.microphone is not None:
            self.speech.microphone.listen(bool(data.get("on")))
        elif data.get("type") == "ping":
            self.emit("pong", sent=data.get("sent"))

    async def _connection_state_changed(self) -> None:
        if self.pc is not None and self.pc.connectionState in ("failed", "closed"):
            await self.close(f"the peer connection {self.pc.connectionState}")

    async def _watch_connect(self) -> None:
        await asyncio.sleep(CONNECT_TIMEOUT_SECONDS)
        if self.pc is not None and self.pc.connectionState != "connected":
            self._close_soon("the page never connected")

    def _close_soon(self, reason: str) -> None:
        if not self.closed:
            asyncio.ensure_future(self.close(reason))


def _started_fields(started: gateway_pb2.ConverseStarted | None) -> dict[str, Any]:
    if started is None:
        return {}
    return {
        "session_id": started.session_id,
        "sample_rate": started.sample_rate,
        "fps": started.fps,
        "width": started.frame_width,
        "height": started.frame_height,
        "idle_loop_frames": started.idle_loop_frames,
    }


def _stream_error(error: grpc.aio.AioRpcError) -> str:
    if error.code() == grpc.StatusCode.UNAVAILABLE:
        return "The connection to the avatar service was lost; reload the page to reconnect."
    return f"The live session ended: {error.details() or error.code().name}"
