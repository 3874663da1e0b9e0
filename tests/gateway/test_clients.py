"""The downstream clients: failures name their stage, deadlines reach the services."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import grpc
import pytest

from avatar.animator.v1 import animator_pb2, animator_pb2_grpc
from avatar.enhancer.v1 import enhancer_pb2
from avatar.llm.v1 import llm_pb2
from avatar.tts.v1 import tts_pb2, tts_pb2_grpc
from avatar_gateway.clients import (
    BROKEN_WRITE,
    AnimatorClient,
    EnhancerClient,
    LlmClient,
    StageError,
    TtsClient,
)
from tests.support.network import free_ports


class _Tts(tts_pb2_grpc.TtsServiceServicer):
    """Notes the deadline each call arrives with; text "slow" never answers, "bad" is refused."""

    def __init__(self) -> None:
        self.time_remaining: list[float | None] = []

    async def Synthesize(self, request, context):
        """Started and end, or a refusal, or nothing at all."""
        self.time_remaining.append(context.time_remaining())
        if request.text == "bad":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "unknown voice 'nobody'")
        if request.text == "slow":
            await asyncio.sleep(30)
        yield tts_pb2.SynthesizeResponse(started=tts_pb2.SynthesisStarted(sample_rate=16_000))
        yield tts_pb2.SynthesizeResponse(end=tts_pb2.SynthesisEnd())


class _Animator(animator_pb2_grpc.AnimatorServiceServicer):
    def __init__(self) -> None:
        self.time_remaining: list[float | None] = []

    async def PrepareAvatar(self, request, context):
        """A prepared face, whatever the photo."""
        self.time_remaining.append(context.time_remaining())
        return animator_pb2.PrepareAvatarResponse(content_hash="c0ffee")


@contextlib.asynccontextmanager
async def _serving() -> AsyncIterator[tuple[str, _Tts, _Animator]]:
    tts, animator = _Tts(), _Animator()
    server = grpc.aio.server()
    tts_pb2_grpc.add_TtsServiceServicer_to_server(tts, server)
    animator_pb2_grpc.add_AnimatorServiceServicer_to_server(animator, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}", tts, animator
    finally:
        await server.stop(grace=None)


async def _drain(stream: AsyncIterator) -> list:
    return [item async for item in stream]


async def _enhance_nothing():
    yield enhancer_pb2.EnhanceRequest(config=enhancer_pb2.EnhanceConfig())


CALLS = {
    "llm": (LlmClient, lambda c: _drain(c.chat(llm_pb2.ChatRequest(message="hi"), 5))),
    "tts": (TtsClient, lambda c: _drain(c.synthesize(tts_pb2.SynthesizeRequest(text="hi"), 5))),
    "animator": (AnimatorClient, lambda c: c.prepare(b"photo", 5)),
    "enhancer": (EnhancerClient, lambda c: _drain(c.enhance(_enhance_nothing(), 5))),
}


@pytest.mark.parametrize("stage", list(CALLS))
async def test_a_service_nobody_listens_for_is_unavailable_naming_its_stage(stage):
    client_type, call = CALLS[stage]
    [port] = free_ports(1)
    client = client_type(f"127.0.0.1:{port}", connect_wait_seconds=0.2)
    try:
        with pytest.raises(StageError) as caught:
            await call(client)
    finally:
        await client.close()
    assert caught.value.stage == stage
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE
    assert str(caught.value).startswith(f"{stage} stage: {stage} service unavailable: ")


async def test_the_callers_deadline_reaches_the_service():
    async with _serving() as (address, tts, animator):
        client = TtsClient(address)
        animator_client = AnimatorClient(address)
        try:
            await _drain(client.synthesize(tts_pb2.SynthesizeRequest(text="hi"), 3.0))
            await _drain(client.synthesize(tts_pb2.SynthesizeRequest(text="hi"), None))
            await animator_client.prepare(b"photo", 2.0)
        finally:
            await client.close()
            await animator_client.close()
    with_deadline, without = tts.time_remaining
    assert 2.0 < with_deadline <= 3.05  # the deadline travels in milliseconds
    assert without is None
    [prepare] = animator.time_remaining
    assert 1.0 < prepare <= 2.05


async def test_a_deadline_that_passes_is_deadline_exceeded_naming_the_service():
    async with _serving() as (address, _, _):
        client = TtsClient(address)
        started = time.perf_counter()
        try:
            with pytest.raises(StageError) as caught:
                await _drain(client.synthesize(tts_pb2.SynthesizeRequest(text="slow"), 0.3))
        finally:
            await client.close()
    assert time.perf_counter() - started < 5
    assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert caught.value.details == "tts service did not answer within the deadline"


async def test_a_refusal_keeps_the_services_code_and_message():
    async with _serving() as (address, _, _):
        client = TtsClient(address)
        try:
            with pytest.raises(StageError) as caught:
                await _drain(client.synthesize(tts_pb2.SynthesizeRequest(text="bad"), 5))
        finally:
            await client.close()
    assert (caught.value.stage, caught.value.code) == ("tts", grpc.StatusCode.INVALID_ARGUMENT)
    assert str(caught.value) == "tts stage: unknown voice 'nobody'"


def test_a_write_lost_to_a_broken_connection_is_unavailable_not_internal():
    # What grpcio reports when the service died while a stream was being written to it.
    broken = grpc.aio.AioRpcError(
        grpc.StatusCode.INTERNAL, grpc.aio.Metadata(), grpc.aio.Metadata(), *BROKEN_WRITE[1:]
    )
    error = StageError.from_rpc_error("enhancer", "enhancer", broken)
    assert error.code == grpc.StatusCode.UNAVAILABLE
    assert str(error) == (
        "enhancer stage: enhancer service unavailable: the connection broke while sending to it"
    )
    # Any other INTERNAL is the service's own answer and is kept.
    own = grpc.aio.AioRpcError(
        grpc.StatusCode.INTERNAL, grpc.aio.Metadata(), grpc.aio.Metadata(), "model failed"
    )
    assert StageError.from_rpc_error("enhancer", "enhancer", own).code == grpc.StatusCode.INTERNAL


async def test_waiting_for_a_connection_never_outlasts_the_deadline():
    [port] = free_ports(1)
    client = TtsClient(f"127.0.0.1:{port}", connect_wait_seconds=5.0)
    try:
        started = time.perf_counter()
        left = await client.wait_until_connected(0.2)
    finally:
        await client.close()
    assert time.perf_counter() - started < 1.0
    assert left == 0.0


async def test_the_time_spent_connecting_is_taken_off_the_deadline():
    [port] = free_ports(1)
    client = TtsClient(f"127.0.0.1:{port}", connect_wait_seconds=0.3)
    try:
        left = await client.wait_until_connected(10.0)
    finally:
        await client.close()
    assert 9.0 < left <= 9.75


async def test_without_a_deadline_the_connection_wait_is_bounded_and_none_is_left():
    [port] = free_ports(1)
    client = TtsClient(f"127.0.0.1:{port}", connect_wait_seconds=0.2)
    try:
        started = time.perf_counter()
        assert await client.wait_until_connected(None) is None
    finally:
        await client.close()
    assert time.perf_counter() - started < 1.5


class _HeldAnimator(animator_pb2_grpc.AnimatorServiceServicer):
    """Counts the streams it has open; each is held until ``release`` is set."""

    def __init__(self, release: asyncio.Event, name: str = "") -> None:
        self.open = 0
        self.calls = 0
        self.release = release
        self.name = name
        self.prepared: list[bytes] = []

    async def PrepareAvatar(self, request, context):
        """A prepared face, after a moment (the last call is kept)."""
        self.prepared.append(request.image)
        await asyncio.sleep(0.05)
        return animator_pb2.PrepareAvatarResponse(content_hash=self.name)

    async def Animate(self, request_iterator, context):
        """Started, then the end once released."""
        self.open += 1
        self.calls += 1
        try:
            yield animator_pb2.AnimateResponse(started=animator_pb2.AnimateStarted())
            await self.release.wait()
            yield animator_pb2.AnimateResponse(end=animator_pb2.AnimateEnd())
        finally:
            self.open -= 1


@contextlib.asynccontextmanager
async def _replicas(count: int):
    servers, servicers, addresses = [], [], []
    for number in range(count):
        servicer, server = _HeldAnimator(asyncio.Event(), f"replica {number}"), grpc.aio.server()
        animator_pb2_grpc.add_AnimatorServiceServicer_to_server(servicer, server)
        addresses.append(f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}")
        await server.start()
        servers.append(server)
        servicers.append(servicer)
    try:
        yield addresses, servicers
    finally:
        for server in servers:
            await server.stop(grace=None)


async def _started(client: AnimatorClient) -> AsyncIterator:
    """An Animate stream that has its started event; the rest waits in the generator."""
    stream = client.animate([animator_pb2.AnimateRequest()], 10)
    first = await anext(stream)
    assert first.WhichOneof("event") == "started"
    return stream


async def test_streams_go_to_the_least_busy_of_several_animators():
    async with _replicas(2) as (addresses, (first, second)):
        client = AnimatorClient(" , ".join(addresses))
        try:
            held = [await _started(client) for _ in range(4)]
            assert (first.open, second.open) == (2, 2)
            # The first replica's streams end: the next two go there, not round the ring.
            first.release.set()
            for stream in held[0::2]:
                await _drain(stream)
            assert (first.open, second.open) == (0, 2)
            first.release.clear()
            more = [await _started(client) for _ in range(2)]
            assert (first.open, second.open) == (2, 2)
            first.release.set()
            second.release.set()
            for stream in [*held[1::2], *more]:
                await _drain(stream)
        finally:
            await client.close()
    assert (first.calls, second.calls) == (4, 2)


async def test_an_animator_that_is_down_is_passed_over_while_another_serves():
    [down] = free_ports(1)
    async with _replicas(1) as ([address], [servicer]):
        servicer.release.set()
        client = AnimatorClient(f"127.0.0.1:{down},{address}", connect_wait_seconds=0.2)
        try:
            with pytest.raises(StageError):  # the first try finds out that it is down
                for _ in range(2):
                    await _drain(client.animate([animator_pb2.AnimateRequest()], 5))
            for _ in range(4):
                await _drain(client.animate([animator_pb2.AnimateRequest()], 5))
        finally:
            await client.close()
    assert servicer.calls >= 4


async def test_a_face_is_prepared_on_every_animator_and_answered_by_the_least_busy():
    async with _replicas(2) as (addresses, (first, second)):
        client = AnimatorClient(",".join(addresses))
        try:
            held = await _started(client)  # the first replica is busy with a stream
            answer = await client.prepare(b"photo", 5)
            await asyncio.sleep(0.2)  # the other replica's preparation, in the background
            first.release.set()
            await _drain(held)
        finally:
            await client.close()
    assert answer.content_hash == "replica 1"
    assert first.prepared == second.prepared == [b"photo"]


def test_an_animator_address_must_name_a_server():
    with pytest.raises(ValueError, match="names no server"):
        AnimatorClient(" , ")
