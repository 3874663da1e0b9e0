"""A client that reads slowly holds the whole pipeline back instead of filling memory.

The client reads one event per 100 ms, far slower than the animator renders. With the
bounded queues between the stages (and gRPC's flow control on each hop) the animator
must wait: it renders until the queues are full and then stops (an animator that was
not held back would render on until the text's end), so frames rendered minus frames
delivered stays under a fixed bound, whatever the length of the text.
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
# The animator is held back once it has rendered nothing new for this long while the
# client kept reading.
STALL_SECONDS = 1.0
# How long the animator may take to fill the queues, on the slowest machine.
FILL_DEADLINE_SECONDS = 40.0
# How long the client keeps reading once the animator is held back.
FOLLOW_SECONDS = 3.0
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
        held_back_at = None  # index of the sample where the animator was found waiting
        last_change = (0.0, -1.0)  # (time, rendered) when rendering last moved
        async for event in call:
            delivered += len(event.frames.frames)
            elapsed = time.perf_counter() - started
            rendered = stack.metric("animator", "avatar_animator_frames_total") - rendered_before
            samples.append((elapsed, rendered, delivered))
            if held_back_at is None:
                if rendered != last_change[1]:
                    last_change = (elapsed, rendered)
                elif rendered > 0 and elapsed - last_change[0] >= STALL_SECONDS:
                    held_back_at = len(samples) - 1
                if elapsed > FILL_DEADLINE_SECONDS:
                    break
            elif elapsed - samples[held_back_at][0] > FOLLOW_SECONDS:
                break
            await asyncio.sleep(READ_INTERVAL_SECONDS)
        call.cancel()

        assert held_back_at is not None, f"the animator never waited for the client: {samples}"
        ahead = [rendered - delivered for _, rendered, delivered in samples]
        assert max(ahead) <= MAX_FRAMES_AHEAD, max(ahead)
        # The client took frames meanwhile, and the animator had not simply finished:
        # it was held back, with the lead under the bound all along.
        assert samples[-1][2] > samples[held_back_at][2]
        assert samples[-1][1] < 1500  # the text has ~3000 frames
        await assert_still_serving(stack, "gateway")
