"""A live session over fakes, on a fast clock: the client side of it, and what it runs
with."""

from __future__ import annotations

import asyncio
import dataclasses
import time

from prometheus_client import CollectorRegistry

from avatar.common.v1 import media_pb2
from avatar.gateway.v1 import gateway_pb2
from avatar_gateway.converse.clock import SessionClock
from avatar_gateway.converse.idle import IdleLoop
from avatar_gateway.converse.session import ConverseSession
from avatar_gateway.converse.settings import SessionSettings
from avatar_gateway.converse.turn import TurnRunner
from avatar_gateway.metrics import GatewayMetrics
from avatar_gateway.plan import Clients
from avatar_gateway.turns import ChatTurns
from tests.support.stage_harness import PLAN, RATE, FakeAnimator, FakeTts

FPS = 25.0


def clients_of(**fakes) -> Clients:
    """The fakes named (``llm``, ``tts``, ``animator``, ``enhancer``), the defaults else."""
    return Clients(
        llm=fakes.get("llm"),
        tts=fakes.get("tts", FakeTts()),
        animator=fakes.get("animator", FakeAnimator()),
        enhancer=fakes.get("enhancer"),
    )


class SessionClient:
    """The client side of a session: what it sends, what it gets."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[gateway_pb2.ConverseRequest | None] = asyncio.Queue()
        self.events: list[gateway_pb2.ConverseResponse] = []
        self.changed = asyncio.Event()

    async def receive(self) -> gateway_pb2.ConverseRequest | None:
        return await self.inbox.get()

    async def send(self, event: gateway_pb2.ConverseResponse) -> None:
        self.events.append(event)
        self.changed.set()
        await asyncio.sleep(0)

    def turn(self, text: str) -> None:
        self.inbox.put_nowait(gateway_pb2.ConverseRequest(turn=gateway_pb2.ConverseTurn(text=text)))

    def draft(self, text: str, mode: int = gateway_pb2.SPEAK_MODE_UNSPECIFIED) -> None:
        draft = gateway_pb2.ConverseDraft(text=text, mode=mode)
        self.inbox.put_nowait(gateway_pb2.ConverseRequest(draft=draft))

    def interrupt(self) -> None:
        self.inbox.put_nowait(
            gateway_pb2.ConverseRequest(interrupt=gateway_pb2.ConverseInterrupt())
        )

    def frames(self) -> list[tuple[int, media_pb2.Frame]]:
        return [(e.turn, f) for e in self.events if e.HasField("frames") for f in e.frames.frames]

    def ended(self) -> list[gateway_pb2.TurnEnded]:
        return [e.turn_ended for e in self.events if e.HasField("turn_ended")]

    async def wait_for(self, condition, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


def fast_clock() -> SessionClock:
    """A clock ten times faster than real time: a second of session in 0.1 s."""
    return SessionClock(FPS, RATE, lead_seconds=0.0, now=lambda: time.monotonic() * 10)


def session_of(
    client: SessionClient,
    clients: Clients,
    chat_turns: ChatTurns,
    clock: SessionClock | None = None,
    metrics: GatewayMetrics | None = None,
) -> ConverseSession:
    idle = IdleLoop(frames=(b"idle0", b"idle1", b"idle2"), width=4, height=4, encoding=1)
    settings = SessionSettings(
        session_id="s",
        template=dataclasses.replace(PLAN, loop_frames=3),
        mode=gateway_pb2.SPEAK_MODE_SPEAK,
        sample_rate=RATE,
        frame_width=4,
        frame_height=4,
        idle=idle,
        chat_available=False,
        max_text_chars=200,
    )
    runner = TurnRunner(clients, chat_turns, lambda: None)
    metrics = metrics or GatewayMetrics(CollectorRegistry())
    return ConverseSession(
        settings, runner, metrics, client.receive, client.send, clock or fast_clock()
    )
