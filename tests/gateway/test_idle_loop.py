"""The avatar's idle clip and GIF poster loop without a jump from their last frame to the first."""

from __future__ import annotations

import contextlib
import io
from importlib import resources

import av
import numpy as np
from PIL import Image, ImageSequence

from avatar_devtools.client import GatewayClient
from tests.animator.observer import FaceObserver
from tests.support.services import in_process_server

PHOTO = (resources.files("avatar_devtools") / "assets" / "sample_face.jpg").read_bytes()


def _mp4_frames(data: bytes) -> list[np.ndarray]:
    with av.open(io.BytesIO(data)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def _gif_frames(data: bytes) -> list[np.ndarray]:
    with Image.open(io.BytesIO(data)) as image:
        return [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(image)]


def _pixel_steps(frames: list[np.ndarray]) -> list[float]:
    """Mean absolute change between consecutive frames, ending with last -> first."""
    looped = [*frames, frames[0]]
    return [
        float(np.abs(a.astype(int) - b.astype(int)).mean())
        for a, b in zip(looped[:-1], looped[1:], strict=True)
    ]


async def test_idle_clip_and_poster_loop_seamlessly(tmp_path):
    async with contextlib.AsyncExitStack() as stack:
        animator = await stack.enter_async_context(in_process_server("animator"))
        environment = {
            "AVATAR_GATEWAY_ANIMATOR_ADDRESS": f"127.0.0.1:{animator.port}",
            "AVATAR_GATEWAY_AVATAR_DIR": str(tmp_path / "avatars"),
            "AVATAR_GATEWAY_IDLE_CLIP_SECONDS": "3",
        }
        gateway = await stack.enter_async_context(in_process_server("gateway", environment))
        client = await stack.enter_async_context(GatewayClient(f"127.0.0.1:{gateway.port}"))
        created = await client.create_avatar(PHOTO, "looping")
    # The GIF holds the animator's frames (palette-reduced): compare pixels.
    steps = _pixel_steps(_gif_frames(created.poster_gif))
    wrap, inside = steps[-1], steps[:-1]
    assert len(inside) >= 30 and max(inside) > 0.1  # the avatar moves (blinks, gaze, head)
    assert wrap <= np.percentile(inside, 90), (wrap, sorted(inside)[-3:])
    # In the MP4, H.264 noise differs between its first (key) frame and the last
    # ones; compare where the face is instead, found afresh in each frame.
    observer = FaceObserver()
    points = [observer.observe(frame).points for frame in _mp4_frames(created.idle_clip_mp4)]
    looped = [*points, points[0]]
    steps = [
        float(np.linalg.norm(a - b, axis=1).mean())
        for a, b in zip(looped[:-1], looped[1:], strict=True)
    ]
    wrap, inside = steps[-1], steps[:-1]
    assert len(inside) >= 70
    assert wrap <= max(inside) and wrap <= 2.0 * np.median(inside), (wrap, np.median(inside))
