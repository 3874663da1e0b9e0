"""End to end, the default (OpenCV) enhancer: high quality enhances the still, and only it.

The whole stack runs in this process. A high-quality Speak sends one frame to the
enhancer, the avatar's still, once per avatar; the animator touches up the still's moving
regions once and draws the frames from it, so the frames reach the client in its encoding
without a per-frame trip to the enhancer and without a per-frame touch-up.
"""

from __future__ import annotations

import numpy as np

from avatar.common.v1 import media_pb2
from avatar.gateway.v1 import gateway_pb2
from avatar_core.frames import decode_frame
from avatar_devtools.client import GatewayClient
from tests.reliability.harness import PHOTO, running_stack

TEXT = "Hello there. How are you?"


async def _speak(client, avatar_id, quality) -> tuple[list[media_pb2.Frame], bytes, list]:
    request = gateway_pb2.SpeakRequest(
        avatar_id=avatar_id,
        text=TEXT,
        quality=quality,
        frame_encoding=media_pb2.FRAME_ENCODING_RGB24,
    )
    frames, audio, stages = [], bytearray(), []
    async for event in client.speak_stream(request, timeout=120):
        kind = event.WhichOneof("event")
        if kind == "frames":
            frames.extend(event.frames.frames)
        elif kind == "audio":
            audio += event.audio.pcm
        elif kind == "summary":
            stages = [stage.stage for stage in event.summary.stages]
    return frames, bytes(audio), stages


async def test_high_quality_enhances_the_still_once_and_the_animator_touches_up(tmp_path):
    async with running_stack(tmp_path) as stack:
        async with GatewayClient(stack.address("gateway")) as client:
            avatar = await client.create_avatar(PHOTO)
            low, low_audio, _ = await _speak(client, avatar.avatar_id, gateway_pb2.QUALITY_LOW)
            high, high_audio, stages = await _speak(
                client, avatar.avatar_id, gateway_pb2.QUALITY_HIGH
            )
            again, _, _ = await _speak(client, avatar.avatar_id, gateway_pb2.QUALITY_HIGH)
        enhanced = stack.metric("enhancer", "avatar_enhancer_frames_total", backend="opencv")
        touched = stack.metric("animator", "avatar_animator_touched_stills_total")
        per_frame = stack.metric("animator", "avatar_animator_frame_seconds_count", step="touchup")
    assert enhanced == 1  # the still, for both high-quality requests
    assert touched == 1  # its regions, once for both
    assert per_frame == 0
    assert "animator" in stages and "enhancer" not in stages
    assert len(high) == len(low) > 25
    assert [f.index for f in high] == [f.index for f in low] == list(range(len(low)))
    assert {f.encoding for f in high} == {media_pb2.FRAME_ENCODING_RGB24}
    assert high_audio == low_audio
    assert [f.data for f in again] == [f.data for f in high]  # no flicker between runs
    for step in range(0, len(low), 9):
        plain, enhanced_frame = decode_frame(low[step]), decode_frame(high[step])
        # Drawn from the enhanced still: the frame differs, but it is the same picture.
        difference = np.abs(enhanced_frame.astype(np.int16) - plain)
        assert 0.5 < difference.mean() < 8, step
