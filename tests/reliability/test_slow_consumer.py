"""A client that reads slowly holds the whole pipeline back instead of filling memory.

The client reads one event per 100 ms, far slower than the animator renders. With the
bounded queues between the stages (and gRPC's flow control on each hop) the animator
must wait: frames rendered minus frames delivered stays under a fixed bound and stops
growing, whatever the length of the text.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from avatar.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from tests.reliability.harness import PHOTO, assert_still_serving, running_stack
from tests.reliability.inputs import LONG_TEXT

pytestmark = pytest.mark.asyncio(loop_scope="session")

READ_INTERVAL_SECONDS = 0.1
WATCH_SECONDS = 6.0
# What may sit between the animator and the client: the gateway's output queue (32
# events of 5 frames), gRPC's flow-control windows on both hops and a few batches in
# flight; far less than the ~3000 frames of the text.
MAX_FRAMES_AHEAD = 600


async def test_a_slow_reader_throttles_the_animator_and_memory_stays_bounded(tmp_path):
    async with running_stack(tmp_path) as stack, stack.channel("gateway") as channel:
        gateway = gateway_pb2_grpc.GatewayServiceStub(channel)
        avatar = await gateway.CreateAvatar(gateway_pb2.CreateAvatarRequest(image=PHOTO))
        rendered_before = stack.metric("animator", "avatar_animator_frames_total")
        call = gateway.Speak(
            gateway_pb2.SpeakRequest(avatar_id=avatar.avatar_id, text=LONG_TEXT), timeout=120
        )
        started = time.perf_counter()
        delivered, samples = 0, []
        async for event in call:
            delivered += len(event.frames.frames)
            rendered = stack.metric("animator", "avatar_animator_frames_total") - rendered_before
            samples.append((time.perf_counter() - started, rendered, delivered))
            if samples[-1][0] > WATCH_SECONDS:
                break
            await asyncio.sleep(READ_INTERVAL_SECONDS)
        call.cancel()

        ahead = [rendered - delivered for _, rendered, delivered in samples]
        assert max(ahead) <= MAX_FRAMES_AHEAD, max(ahead)
        # Rendering followed delivery: over the second half the lead did not grow.
        half = next(i for i, (elapsed, _, _) in enumerate(samples) if elapsed > WATCH_SECONDS / 2)
        assert ahead[-1] <= ahead[half] + 25
        assert delivered > 0 and samples[-1][1] < 1500  # the text has ~3000 frames
        await assert_still_serving(stack, "gateway")
