"""End to end: a tiny restoration model configured by environment alone, through the gateway.

The whole stack runs in this process; only the enhancer's environment names the
model (``AVATAR_ENHANCER_MODEL``, ``AVATAR_ENHANCER_BACKEND=onnx``). A high-quality
Speak must then differ from a low-quality one inside the face and nowhere else, with
the same audio, frame count, indices and frame rate. The still is restored once per
avatar; frames are drawn from it and the model works per frame on what moves.
"""

from __future__ import annotations

import cv2
import numpy as np

from avatar.common.v1 import media_pb2
from avatar.gateway.v1 import gateway_pb2
from avatar_core.frames import decode_frame
from avatar_devtools.client import GatewayClient
from avatar_enhancer.faces import FaceLocator
from tests.enhancer.restoration_models import gfpgan_layout
from tests.enhancer.test_restorer import face_region
from tests.reliability.harness import PHOTO, running_stack

TEXT = "Hello there. How are you?"


async def _speak(client, avatar_id, quality):
    request = gateway_pb2.SpeakRequest(
        avatar_id=avatar_id,
        text=TEXT,
        quality=quality,
        frame_encoding=media_pb2.FRAME_ENCODING_RGB24,
    )
    frames, audio, fps = [], bytearray(), set()
    async for event in client.speak_stream(request, timeout=120):
        kind = event.WhichOneof("event")
        if kind == "frames":
            frames.extend(event.frames.frames)
            fps.add(event.frames.fps)
        elif kind == "audio":
            audio += event.audio.pcm
    return frames, bytes(audio), fps


async def test_high_quality_restores_the_face_and_leaves_the_rest(tmp_path):
    model = gfpgan_layout(tmp_path / "tiny_gfpgan.onnx", size=128)
    environments = {
        "enhancer": {"AVATAR_ENHANCER_MODEL": str(model), "AVATAR_ENHANCER_BACKEND": "onnx"}
    }
    async with running_stack(tmp_path, environments) as stack:
        async with GatewayClient(stack.address("gateway")) as client:
            avatar = await client.create_avatar(PHOTO)
            low, low_audio, low_fps = await _speak(
                client, avatar.avatar_id, gateway_pb2.QUALITY_LOW
            )
            high, high_audio, high_fps = await _speak(
                client, avatar.avatar_id, gateway_pb2.QUALITY_HIGH
            )
            again, _, _ = await _speak(client, avatar.avatar_id, gateway_pb2.QUALITY_HIGH)
        restored_frames = stack.metric("enhancer", "avatar_enhancer_frames_total", backend="onnx")
    assert len(high) == len(low) > 25
    assert [f.index for f in high] == [f.index for f in low] == list(range(len(low)))
    assert high_fps == low_fps == {25.0}
    assert high_audio == low_audio
    # Each high-quality frame once, plus the avatar's still, restored once for both.
    assert restored_frames == 2 * len(high) + 1
    assert [f.data for f in again] == [f.data for f in high]  # no flicker between runs
    locator = FaceLocator()
    for step in range(0, len(low), 9):
        plain, restored = decode_frame(low[step]), decode_frame(high[step])
        inside = face_region(locator.locate(plain), 128, plain.shape)
        difference = np.abs(restored.astype(np.int16) - plain).mean(axis=2)
        assert difference[inside].mean() > 10, step
        # Landmarks are steadied along the stream: the region may lag a few pixels. Outside
        # it only the JPEG hop from animator to enhancer differs.
        around = _grown(inside, 12)
        assert difference[~around].mean() < 3, step


def _grown(mask: np.ndarray, pixels: int) -> np.ndarray:
    kernel = np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)
    return cv2.dilate(mask.astype(np.uint8), kernel) > 0
