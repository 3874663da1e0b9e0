"""End to end: a tiny lip-sync model configured by environment alone, through the gateway.

The whole stack runs in this process twice: once as shipped, once with only the
animator's environment naming a model (``AVATAR_ANIMATOR_LIPSYNC_MODEL``). The same
Speak must then differ inside the mouth and not outside the face, with the same audio,
frame count, indices and frame rate.
"""

from __future__ import annotations

import cv2
import numpy as np

from avatar.common.v1 import media_pb2
from avatar.gateway.v1 import gateway_pb2
from avatar_core.frames import decode_frame
from avatar_devtools.client import GatewayClient
from tests.animator.lipsync_models import wav2lip_layout
from tests.reliability.harness import PHOTO, running_stack

TEXT = "Hello there. How are you?"


async def _speak(tmp_path, environments):
    request = gateway_pb2.SpeakRequest(
        text=TEXT, quality=gateway_pb2.QUALITY_LOW, frame_encoding=media_pb2.FRAME_ENCODING_RGB24
    )
    frames, audio, fps = [], bytearray(), set()
    async with running_stack(tmp_path, environments) as stack:
        async with GatewayClient(stack.address("gateway")) as client:
            request.avatar_id = (await client.create_avatar(PHOTO)).avatar_id
            async for event in client.speak_stream(request, timeout=180):
                kind = event.WhichOneof("event")
                if kind == "frames":
                    frames.extend(event.frames.frames)
                    fps.add(event.frames.fps)
                elif kind == "audio":
                    audio += event.audio.pcm
        drawn = stack.metric("animator", "avatar_animator_lipsync_frames_total")
    return frames, bytes(audio), fps, drawn


def _regions(landmarks: np.ndarray, shape) -> tuple[np.ndarray, np.ndarray]:
    """(lips, outside the face) of a frame, from the prepared face's landmarks."""
    size = float(max(landmarks.max(axis=0) - landmarks.min(axis=0)))
    lips = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(lips, np.round(landmarks[48:60]).astype(np.int32), 1)
    outline = np.concatenate([landmarks[:27], landmarks[5:12] + (0, 0.15 * size)])
    face = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(face, cv2.convexHull(np.round(outline).astype(np.int32)), 1)
    face = cv2.dilate(face, np.ones((21, 21), np.uint8))
    return lips > 0, face == 0


async def test_a_configured_model_draws_the_mouth_and_nothing_outside_the_face(
    tmp_path, sample_face
):
    model = wav2lip_layout(tmp_path / "wav2lip_gan_96.onnx")
    plain, plain_audio, plain_fps, none_drawn = await _speak(tmp_path / "plain", {})
    environments = {"animator": {"AVATAR_ANIMATOR_LIPSYNC_MODEL": str(model)}}
    synced, synced_audio, synced_fps, drawn = await _speak(tmp_path / "synced", environments)
    assert len(synced) == len(plain) > 25
    assert [f.index for f in synced] == [f.index for f in plain] == list(range(len(plain)))
    assert synced_fps == plain_fps == {25.0}
    assert synced_audio == plain_audio
    assert none_drawn == 0 and drawn >= len(synced)  # the idle clip's frames as well
    lips, outside = _regions(sample_face.landmarks, sample_face.image.shape)
    for step in range(0, len(plain), 9):
        difference = np.abs(
            decode_frame(synced[step]).astype(np.int16) - decode_frame(plain[step])
        ).mean(axis=2)
        assert difference[lips].mean() > 20, step
        assert difference[outside].mean() < 3, step
