"""The pipeline's composition: the first failure stops every stage, and gRPC request
iterators never outlive the stage that reads their call."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import grpc
import pytest

from avatar.enhancer.v1 import enhancer_pb2, enhancer_pb2_grpc
from avatar_gateway.clients import EnhancerClient, StageError
from avatar_gateway.pipeline import SpeakPipeline, next_or_fail
from avatar_gateway.stages.base import requests_until
from tests.support.stage_harness import (
    FakeAnimator,
    FakeLlm,
    FakeTts,
    StageHarness,
    wait_for,
)

CONFIG = enhancer_pb2.EnhanceRequest(config=enhancer_pb2.EnhanceConfig())


class _RecordingEnhancer(enhancer_pb2_grpc.EnhancerServiceServicer):
    """Answers the config, then reports how the client ended the stream."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def Enhance(self, request_iterator, context):
        """Started, then waits for the client: its end message, a half-close or a cancel."""
        try:
            await anext(aiter(request_iterator))
            if self.refuse:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no such backend")
            yield enhancer_pb2.EnhanceResponse(started=enhancer_pb2.EnhanceStarted())
            async for request in request_iterator:
                if request.HasField("end"):
                    self.outcome.set_result("ended")
                    return
            # A cancel also ends the requests; it then reaches this task, or the context.
            await asyncio.sleep(0.2)
            self.outcome.set_result("cancelled" if context.cancelled() else "half-closed")
        except asyncio.CancelledError:
            self.outcome.set_result("cancelled")
            raise


@contextlib.asynccontextmanager
async def _enhancer(servicer: _RecordingEnhancer) -> AsyncIterator[EnhancerClient]:
    server = grpc.aio.server()
    enhancer_pb2_grpc.add_EnhancerServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    client = EnhancerClient(f"127.0.0.1:{port}")
    try:
        yield client
    finally:
        await client.close()
        await server.stop(grace=None)


class _StuckRequests:
    """Requests that send the config, then wait on a queue that never fills."""

    def __init__(self) -> None:
        self.closed = asyncio.Event()

    async def __call__(self) -> AsyncIterator[enhancer_pb2.EnhanceRequest]:
        try:
            yield CONFIG
            await asyncio.Queue().get()
        finally:
            self.closed.set()


async def test_until_cancels_the_call_when_the_stage_ends_rather_than_half_closing_it():
    servicer = _RecordingEnhancer()
    requests = _StuckRequests()
    stop = asyncio.Event()
    async with _enhancer(servicer) as client:
        responses = aiter(client.enhance(requests_until(stop, requests()), timeout=10))
        assert (await anext(responses)).HasField("started")
        stop.set()
        # gRPC cancels a call whose request iterator raises: reading it then raises too.
        with pytest.raises(asyncio.CancelledError):
            await anext(responses)
        async with asyncio.timeout(5):
            assert await servicer.outcome == "cancelled"
        await wait_for(requests.closed)


async def test_until_frees_the_request_iterator_of_a_call_that_failed():
    # gRPC no longer cancels the reader of a failed call's requests: ``stop`` must.
    requests = _StuckRequests()
    stop = asyncio.Event()
    async with _enhancer(_RecordingEnhancer(refuse=True)) as client:
        with pytest.raises(StageError) as caught:
            try:
                async for _ in client.enhance(requests_until(stop, requests()), timeout=10):
                    pass
            finally:
                stop.set()
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.stage == "enhancer"
        await wait_for(requests.closed, timeout=2)


async def test_until_passes_every_request_of_a_finished_iterator_through():
    async def three() -> AsyncIterator[int]:
        for item in (1, 2, 3):
            yield item

    assert [item async for item in requests_until(asyncio.Event(), three())] == [1, 2, 3]


async def test_next_or_fail_returns_queued_items_before_a_failure():
    queue: asyncio.Queue = asyncio.Queue()
    failure = asyncio.get_running_loop().create_future()
    queue.put_nowait("frames")
    failure.set_exception(StageError("tts", grpc.StatusCode.UNAVAILABLE, "down"))
    assert await next_or_fail(queue, failure) == "frames"
    with pytest.raises(StageError, match="tts stage: down"):
        await next_or_fail(queue, failure)


async def test_next_or_fail_raises_the_first_failure_while_waiting_and_loses_no_item():
    queue: asyncio.Queue = asyncio.Queue()
    failure = asyncio.get_running_loop().create_future()
    waiting = asyncio.ensure_future(next_or_fail(queue, failure))
    await asyncio.sleep(0.01)
    failure.set_exception(StageError("animator", grpc.StatusCode.INTERNAL, "broke"))
    with pytest.raises(StageError, match="animator stage"):
        await waiting
    queue.put_nowait("later")
    assert await next_or_fail(queue, asyncio.get_running_loop().create_future()) == "later"


def _pipeline(harness: StageHarness) -> SpeakPipeline:
    return SpeakPipeline(harness.clients, harness.plan, lambda: harness.deadline)


async def test_a_failing_stage_cancels_every_other_stage_and_its_call():
    harness = StageHarness(
        # The LLM has written one sentence and is still writing when tts fails.
        llm=FakeLlm(["One.", " Two", " three."], hold_after=3),
        tts=FakeTts(fail_after=3),
        animator=FakeAnimator(),
        plan_changes={"chat": True, "high_quality": True},
    )
    baseline = asyncio.all_tasks()
    events = []
    with pytest.raises(StageError) as caught:
        async for event in _pipeline(harness).events():
            events.append(event.WhichOneof("event"))
    assert caught.value.stage == "tts"
    assert events[:1] == ["sentence"]
    assert harness.llm.cancelled == 1
    assert harness.animator.calls == harness.animator.cancelled == 1
    assert harness.enhancer.cancelled == 1
    assert asyncio.all_tasks() - baseline == set()


async def test_a_client_that_leaves_cancels_every_stage():
    # The voice stalls in the second sentence, which the first one's frames wait for.
    harness = StageHarness(tts=FakeTts(hold_after=8), plan_changes={"high_quality": True})
    baseline = asyncio.all_tasks()
    events = _pipeline(harness).events()
    async for event in events:
        if event.HasField("frames"):
            break
    await wait_for(harness.tts.held)
    await events.aclose()
    assert harness.tts.cancelled == 1
    assert harness.enhancer.cancelled == 1
    assert asyncio.all_tasks() - baseline == set()


async def test_the_summary_names_each_stage_after_its_service():
    harness = StageHarness(
        llm=FakeLlm(["Sure. Here", " it is."]), plan_changes={"chat": True, "high_quality": True}
    )
    pipeline = _pipeline(harness)
    events = [event async for event in pipeline.events()]
    summary = pipeline.measurements.summary()
    assert {stage.stage for stage in summary.stages} == {"llm", "tts", "animator", "enhancer"}
    assert [e.sentence.text for e in events if e.HasField("sentence")] == ["Sure.", "Here it is."]
    assert all(e.sentence.from_llm for e in events if e.HasField("sentence"))
    assert summary.sentences == 2
    assert summary.frames == sum(len(e.frames.frames) for e in events) > 0
    assert summary.audio_seconds * 25 == pytest.approx(summary.frames)
    assert 0 < summary.time_to_first_audio_seconds <= summary.time_to_first_frame_seconds


async def test_plain_text_in_low_quality_times_only_tts_and_the_animator():
    harness = StageHarness()
    pipeline = _pipeline(harness)
    events = [event async for event in pipeline.events()]
    summary = pipeline.measurements.summary()
    assert {stage.stage for stage in summary.stages} == {"tts", "animator"}
    assert [e.sentence.text for e in events if e.HasField("sentence")] == [
        "Hello there.",
        "How are you today?",
    ]
    assert summary.spoken_text == "Hello there. How are you today?"
    assert summary.frames == sum(len(e.frames.frames) for e in events)
    assert not any(e.HasField("video") for e in events)
