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
        self._pending_audio: media_pb2.AudioChunk | None = None
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
            self._pending_audio = event.audio
        elif kind == "frames":
            assert self._pending_audio is not None, "a frame came without its audio"
            for frame in event.frames.frames:
                tick = Tick(event.turn, frame, self._pending_audio, time.perf_counter())
                self.ticks.append(tick)
            self._pending_audio = None
