"""A ``Converse`` session driven through the plain generated stub, every event recorded.

session = LiveSession(stub, gateway_pb2.ConverseConfig(avatar_id=avatar_id))
await session.wait_for(lambda s: len(s.frames) >= 10)
session.turn("Hello there.")
ended = await session.wait_for_turn_end(1)
session.close()
assert await session.finish() == grpc.StatusCode.OK
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import grpc

from avatar.common.v1 import media_pb2
from avatar.gateway.v1 import gateway_pb2, gateway_pb2_grpc


@dataclass(frozen=True)
class Tick:
    """One frame of the session with its audio.

    Attributes:
        turn: The turn the frame belongs to (0: idle).
        frame: The frame.
        audio: The audio chunk sent with it.
        received_at: When the frame arrived (``time.perf_counter``).
    """

    turn: int
    frame: media_pb2.Frame
    audio: media_pb2.AudioChunk
    received_at: float


class LiveSession:
    """One Converse call: a config, then whatever the test sends; events kept in order.

    Args:
        stub: A gateway stub.
        config: The session's config (sent first).
        timeout: Deadline of the whole call, seconds.
        metadata: Call metadata (e.g. a bearer token).
    """

    def __init__(
        self,
        stub: gateway_pb2_grpc.GatewayServiceStub,
        config: gateway_pb2.ConverseConfig | gateway_pb2.ConverseRequest | None,
        *,
        timeout: float = 120.0,
        metadata: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self._outbox: asyncio.Queue[gateway_pb2.ConverseRequest | None] = asyncio.Queue()
        self.events: list[gateway_pb2.ConverseResponse] = []
        self.ticks: list[Tick] = []
        self.error: grpc.aio.AioRpcError | None = None
        self.cancelled = False
        # Audio whose frames have not come yet (a turn's audio goes ahead of its pictures).
        self._pending_audio: list[media_pb2.AudioChunk] = []
        self._changed = asyncio.Event()
        if isinstance(config, gateway_pb2.ConverseConfig):
            config = gateway_pb2.ConverseRequest(config=config)
        if config is not None:
            self._outbox.put_nowait(config)
        self.call = stub.Converse(self._requests(), timeout=timeout, metadata=metadata)
        self._reader = asyncio.create_task(self._read())

    def send(self, request: gateway_pb2.ConverseRequest) -> None:
        """Sends any message."""
        self._outbox.put_nowait(request)

    def turn(self, text: str, **fields) -> None:
        """Sends a turn; ``fields`` are more ConverseTurn fields (mode, client_turn_id)."""
        self.send(gateway_pb2.ConverseRequest(turn=gateway_pb2.ConverseTurn(text=text, **fields)))

    def interrupt(self) -> None:
        """Sends an interrupt."""
        self.send(gateway_pb2.ConverseRequest(interrupt=gateway_pb2.ConverseInterrupt()))

    def close(self) -> None:
        """Closes the request stream (half-close)."""
        self._outbox.put_nowait(None)

    @property
    def started(self) -> gateway_pb2.ConverseStarted:
        """The session's first event."""
        return self.events[0].started

    def speech(self, kind: int | None = None) -> list[gateway_pb2.UserSpeech]:
        """The UserSpeech events, in order; of one kind when given."""
        events = [event.user_speech for event in self.of_kind("user_speech")]
        return [e for e in events if kind is None or e.kind == kind]

    def of_kind(self, kind: str) -> list[gateway_pb2.ConverseResponse]:
        """The events of one kind, in order."""
        return [event for event in self.events if event.WhichOneof("event") == kind]

    def turn_ended(self, turn: int) -> gateway_pb2.TurnEnded | None:
        """The end of turn ``turn``, once it came."""
        for event in self.of_kind("turn_ended"):
            if event.turn == turn:
                return event.turn_ended
        return None

    async def wait_for(
        self, condition: Callable[[LiveSession], bool], timeout: float = 60.0
    ) -> None:
        """Waits until ``condition(self)`` holds, at most ``timeout`` seconds.

        Raises:
            AssertionError: The call ended, or the time ran out, first.
        """
        async with asyncio.timeout(timeout):
            while not condition(self):
                if self._reader.done():
                    raise AssertionError(f"the session ended first: {self.error}")
                self._changed.clear()
                await self._changed.wait()

    async def wait_for_turn_end(self, turn: int, timeout: float = 60.0) -> gateway_pb2.TurnEnded:
        """Waits for the end of turn ``turn`` and returns it."""
        await self.wait_for(lambda session: session.turn_ended(turn) is not None, timeout)
        ended = self.turn_ended(turn)
        assert ended is not None
        return ended

    async def finish(self, timeout: float = 60.0) -> grpc.StatusCode:
        """Waits for the call to end; returns its status code (CANCELLED once cancelled)."""
        async with asyncio.timeout(timeout):
            await asyncio.shield(self._reader)
        if self.cancelled:
            return grpc.StatusCode.CANCELLED
        return self.error.code() if self.error is not None else grpc.StatusCode.OK

    def cancel(self) -> None:
        """Cancels the call, as a client that goes away."""
        self.call.cancel()

    async def _requests(self) -> AsyncIterator[gateway_pb2.ConverseRequest]:
        while (request := await self._outbox.get()) is not None:
            yield request

    async def _read(self) -> None:
        try:
            async for event in self.call:
                self._record(event)
                self._changed.set()
        except grpc.aio.AioRpcError as error:
            self.error = error
        except asyncio.CancelledError:
            self.cancelled = True
        finally:
            self._changed.set()

    def _record(self, event: gateway_pb2.ConverseResponse) -> None:
        self.events.append(event)
        kind = event.WhichOneof("event")
        if kind == "audio":
            # Audio for offsets already held replaces it (an interrupted turn's, sent ahead).
            offset = event.audio.sample_offset
            pending = self._pending_audio
            self._pending_audio = [a for a in pending if a.sample_offset < offset]
            self._pending_audio.append(event.audio)
        elif kind == "frames":
            for frame in event.frames.frames:
                assert self._pending_audio, "a frame came without its audio"
                audio = self._pending_audio.pop(0)
                self.ticks.append(Tick(event.turn, frame, audio, time.perf_counter()))


class Microphone:
    """A client's microphone for a :class:`LiveSession`: audio paced in real time.

    It sends 20 ms chunks of silence, or of what :meth:`say` queued, at the pace they
    would be recorded, with gapless sample offsets from 0.

    Args:
        session: The session to send to.
        sample_rate: Samples per second of the audio.
        chunk_seconds: Length of one chunk.
    """

    def __init__(self, session: LiveSession, sample_rate: int, chunk_seconds: float = 0.02):
        self.session = session
        self.sample_rate = sample_rate
        self.chunk = round(chunk_seconds * sample_rate)
        self.sent_samples = 0
        self._queued: list[bytes] = []
        self._said: list[asyncio.Future[float]] = []
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        """Starts sending."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stops sending."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def say(self, pcm: bytes) -> asyncio.Future[float]:
        """Queues speech (s16le); the future gets the time its last sample was sent."""
        done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._queued.append(pcm)
        self._said.append(done)
        return done

    async def _run(self) -> None:
        started = time.perf_counter()
        silence = bytes(2 * self.chunk)
        current, position = b"", 0
        while True:
            if position >= len(current) and self._queued:
                current, position = self._queued.pop(0), 0
            if position < len(current):
                pcm = current[position : position + 2 * self.chunk]
                position += len(pcm)
                if position >= len(current):
                    self._said.pop(0).set_result(time.perf_counter())
            else:
                pcm = silence
            audio = media_pb2.AudioChunk(
                pcm=pcm, sample_rate=self.sample_rate, sample_offset=self.sent_samples
            )
            self.session.send(gateway_pb2.ConverseRequest(audio=audio))
            self.sent_samples += len(pcm) // 2
            due = started + self.sent_samples / self.sample_rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
