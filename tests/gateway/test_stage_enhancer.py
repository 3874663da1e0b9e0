"""The enhancer stage alone: every batch through one Enhance call, in order, indices kept."""

from __future__ import annotations

import pytest

from avatar.common.v1 import media_pb2
from avatar_gateway.clients import StageError
from avatar_gateway.stages import EnhancerStage
from tests.support.stage_harness import FakeEnhancer, StageHarness, frame, wait_for

HIGH = {"high_quality": True, "frame_encoding": media_pb2.FRAME_ENCODING_RGB24}


def _batches() -> list[media_pb2.FrameBatch]:
    return [
        media_pb2.FrameBatch(frames=[frame(first + i, b"f%d" % (first + i)) for i in range(3)])
        for first in (0, 3, 6)
    ]


async def test_batches_pass_through_the_enhancer_in_order_with_their_indices():
    harness = StageHarness(plan_changes=HIGH)
    to_client = harness.sink("client")
    await harness.run(
        EnhancerStage(harness.context, harness.source(_batches()), to_client), to_client
    )

    frames = [f for event in to_client.items for f in event.frames.frames]
    assert [f.index for f in frames] == list(range(9))
    assert [f.data for f in frames] == [b"f%d+enhanced" % i for i in range(9)]
    assert to_client.ended
    # One call for the whole request, in the encoding the client asked for.
    assert harness.enhancer.calls == 1
    assert [c.encoding for c in harness.enhancer.configs] == [media_pb2.FRAME_ENCODING_RGB24]
    assert harness.enhancer.timeouts == [30.0]
    assert list(harness.measurements.stage_seconds) == ["enhancer"]


async def test_the_call_ends_with_an_explicit_end_after_the_last_batch():
    harness = StageHarness(plan_changes=HIGH)
    to_client = harness.sink("client")
    await harness.run(
        EnhancerStage(harness.context, harness.source(_batches()), to_client), to_client
    )
    kinds = [request.WhichOneof("message") for request in harness.enhancer.requests[1:]]
    assert kinds == ["frames", "frames", "frames", "end"]


async def test_a_failing_enhancer_raises_the_enhancer_stage_error():
    harness = StageHarness(enhancer=FakeEnhancer(fail_after=2), plan_changes=HIGH)
    to_client = harness.sink("client")
    with pytest.raises(StageError) as caught:
        await harness.run(
            EnhancerStage(harness.context, harness.source(_batches()), to_client), to_client
        )
    assert caught.value.stage == "enhancer"
    assert len(to_client.items) == 1 and not to_client.ended
    assert "enhancer" not in harness.measurements.stage_seconds


async def test_cancel_stops_the_stage_and_its_enhancer_call():
    enhancer = FakeEnhancer(hold_after=1)
    harness = StageHarness(enhancer=enhancer, plan_changes=HIGH)
    to_client = harness.sink("client")
    run = await harness.start(
        EnhancerStage(harness.context, harness.source(_batches(), end=False), to_client), to_client
    )
    await wait_for(enhancer.held)
    await run.cancel()
    assert run.task.cancelled()
    assert enhancer.cancelled == 1
    assert not to_client.ended
