"""The avatars' idle loops of live sessions, rendered once and shared from memory.

An idle session shows its avatar's seamless idle loop (blinks, gaze, sway; the mouth
closed): session frame ``k`` is loop frame ``k mod L``. The loop is rendered by the
animator from silence with ``loop_frames = L``, so its last frame leads back to its
first, and the animator gives speech frame ``g`` of the same avatar the pose of loop
frame ``g mod L``: speech joins the loop without a jump. In high quality the loop is
made as a turn's frames are (drawn from the avatar's enhanced still, touched up where
it moves: by the animator itself when OpenCV enhanced the still, else by the enhancer),
so idle and speech frames look alike.

One loop per (avatar content hash, fps, frame encoding, quality) is kept, in a
memory-bounded LRU cache shared by every session; sessions that ask for the same loop
while it renders wait for that one render.
"""

from __future__ import annotations

import asyncio
import math
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import grpc

from avatar.animator.v1 import animator_pb2
from avatar.common.v1 import media_pb2
from avatar.enhancer.v1 import enhancer_pb2
from avatar_gateway.appearance import Appearance
from avatar_gateway.clients import StageError
from avatar_gateway.plan import Clients
from avatar_gateway.stages.enhancer import HIGH_QUALITY_JPEG

IDLE_SAMPLE_RATE = 16_000
# Longest wait for one loop's rendering: it is a few seconds of frames.
RENDER_TIMEOUT_SECONDS = 60.0
# Frames per request to the enhancer: JPEG frames at quality 95 stay well under 1 MiB.
ENHANCE_BATCH_FRAMES = 8


@dataclass(frozen=True, slots=True)
class IdleLoopKey:
    """What an idle loop depends on.

    Attributes:
        content_hash: The avatar photo's content hash.
        fps: Frames per second.
        encoding: Frame encoding of the loop's frames.
        high_quality: Whether the frames are enhanced (high quality).
    """

    content_hash: str
    fps: float
    encoding: int
    high_quality: bool


@dataclass(frozen=True, slots=True)
class IdleLoop:
    """One rendered idle loop.

    Attributes:
        frames: The encoded frames, in order; frame ``k`` of a session shows
            ``frames[k % len(frames)]``.
        width: Frame width in pixels.
        height: Frame height in pixels.
        encoding: Encoding of the frames.
    """

    frames: tuple[bytes, ...]
    width: int
    height: int
    encoding: int

    @property
    def nbytes(self) -> int:
        """Memory its frames take."""
        return sum(len(frame) for frame in self.frames)

    def frame(self, index: int) -> media_pb2.Frame:
        """Session frame ``index`` of the idle loop."""
        return media_pb2.Frame(
            index=index,
            data=self.frames[index % len(self.frames)],
            width=self.width,
            height=self.height,
            encoding=self.encoding,
        )


def loop_length(idle_seconds: float, fps: float) -> int:
    """Frames of an idle loop of about ``idle_seconds`` at ``fps`` (at least 2)."""
    return max(2, round(idle_seconds * fps))


class IdleLoopCache:
    """Renders idle loops through the animator (and enhancer) and keeps them, bounded.

    Args:
        clients: The downstream services.
        idle_seconds: Length of every loop, seconds (as the avatars' idle clips).
        max_bytes: Memory the kept loops may take; the least recently used goes first.
        on_render: Called once per loop rendered (a metric).
    """

    def __init__(
        self,
        clients: Clients,
        *,
        idle_seconds: float,
        max_bytes: int,
        on_render: Callable[[], None] = lambda: None,
    ) -> None:
        self._clients = clients
        self._idle_seconds = idle_seconds
        self._max_bytes = max_bytes
        self._on_render = on_render
        self._loops: OrderedDict[IdleLoopKey, IdleLoop] = OrderedDict()
        self._rendering: dict[IdleLoopKey, asyncio.Task[IdleLoop]] = {}
        self._bytes = 0

    @property
    def nbytes(self) -> int:
        """Memory the kept loops take."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._loops)

    def loop_frames(self, fps: float) -> int:
        """The length of every loop at ``fps``, frames."""
        return loop_length(self._idle_seconds, fps)

    async def get(self, key: IdleLoopKey, photo: bytes) -> IdleLoop:
        """The idle loop of ``key``: from memory, from a render under way, or rendered now.

        Args:
            key: The avatar, frame rate, encoding and quality.
            photo: The avatar photo, for an animator that has not cached it.

        Raises:
            StageError: The animator or enhancer failed or is down.
        """
        loop = self._loops.get(key)
        if loop is not None:
            self._loops.move_to_end(key)
            return loop
        task = self._rendering.get(key)
        if task is None:
            task = asyncio.create_task(self._render_and_keep(key, photo), name="idle loop render")
            # Its failure reaches every waiter; with none left it is only noted here.
            task.add_done_callback(lambda done: done.cancelled() or done.exception())
            self._rendering[key] = task
        # Shielded: a session that gives up waiting leaves the render to the others.
        return await asyncio.shield(task)

    async def _render_and_keep(self, key: IdleLoopKey, photo: bytes) -> IdleLoop:
        try:
            loop = await render_idle_loop(
                self._clients, key, photo, self.loop_frames(key.fps), RENDER_TIMEOUT_SECONDS
            )
        finally:
            del self._rendering[key]
        self._on_render()
        self._keep(key, loop)
        return loop

    def _keep(self, key: IdleLoopKey, loop: IdleLoop) -> None:
        self._loops[key] = loop
        self._bytes += loop.nbytes
        while self._bytes > self._max_bytes and len(self._loops) > 1:
            _, dropped = self._loops.popitem(last=False)
            self._bytes -= dropped.nbytes


async def render_idle_loop(
    clients: Clients, key: IdleLoopKey, photo: bytes, loop_frames: int, timeout: float | None
) -> IdleLoop:
    """Animates silence into ``loop_frames`` frames that loop without a jump.

    In high quality the frames are made as a turn's are: drawn from the avatar's
    enhanced still, then touched up where they move, by the animator when the still's
    touch-up is OpenCV's, else by the enhancer (whole frames without kept stills).

    Raises:
        StageError: The animator or enhancer failed or is down.
    """
    appearance = None
    if key.high_quality and clients.stills is not None:
        appearance = await clients.stills.get(key.content_hash, photo, timeout)
    frames = await _animated_silence(clients, key, photo, loop_frames, appearance, timeout)
    if key.high_quality and (appearance is None or appearance.touchup is None):
        regions = appearance.regions if appearance is not None else ()
        frames = await _enhanced(clients, frames, key.encoding, regions, timeout)
    return IdleLoop(
        frames=tuple(frame.data for frame in frames),
        width=frames[0].width,
        height=frames[0].height,
        encoding=frames[0].encoding or media_pb2.FRAME_ENCODING_JPEG,
    )


async def _animated_silence(
    clients: Clients,
    key: IdleLoopKey,
    photo: bytes,
    loop_frames: int,
    appearance: Appearance | None,
    timeout: float | None,
) -> list[media_pb2.Frame]:
    samples = math.ceil(loop_frames * IDLE_SAMPLE_RATE / key.fps)
    config = _idle_config(key, photo, loop_frames, appearance)

    async def requests() -> AsyncIterator[animator_pb2.AnimateRequest]:
        yield animator_pb2.AnimateRequest(config=config)
        yield animator_pb2.AnimateRequest(
            audio=media_pb2.AudioChunk(
                pcm=bytes(2 * samples), sample_rate=IDLE_SAMPLE_RATE, sample_offset=0
            )
        )
        yield animator_pb2.AnimateRequest(end=animator_pb2.AnimateInputEnd())

    frames: list[media_pb2.Frame] = []
    async for response in clients.animator.animate(requests(), timeout):
        if response.WhichOneof("event") == "frames":
            frames.extend(response.frames.frames)
    if len(frames) < loop_frames:
        raise StageError(
            "animator",
            grpc.StatusCode.INTERNAL,
            f"the animator made {len(frames)} idle frames of {loop_frames}",
        )
    return frames[:loop_frames]


def _idle_config(
    key: IdleLoopKey, photo: bytes, loop_frames: int, appearance: Appearance | None
) -> animator_pb2.AnimateConfig:
    """The animator's config of an idle loop: in high quality drawn from the enhanced
    still, and touched up by the animator itself or sent on to the enhancer."""
    touchup = appearance.touchup if appearance is not None else None
    to_enhancer = key.high_quality and touchup is None
    quality = 85
    if to_enhancer:
        quality = 95  # the enhancer encodes what it sends on
    elif key.high_quality:
        quality = HIGH_QUALITY_JPEG
    config = animator_pb2.AnimateConfig(
        content_hash=key.content_hash,
        image=photo,
        fps=key.fps,
        sample_rate=IDLE_SAMPLE_RATE,
        # To the enhancer: JPEG, as a turn's frames (RGB24 is too big).
        encoding=media_pb2.FRAME_ENCODING_JPEG if to_enhancer else key.encoding,
        jpeg_quality=quality,
        loop_frames=loop_frames,
        appearance=appearance.still if appearance is not None else b"",
    )
    if touchup is not None:
        config.touchup.CopyFrom(touchup)
    return config


async def _enhanced(
    clients: Clients,
    frames: list[media_pb2.Frame],
    encoding: int,
    regions: tuple[enhancer_pb2.Region, ...],
    timeout: float | None,
) -> list[media_pb2.Frame]:
    async def requests() -> AsyncIterator[enhancer_pb2.EnhanceRequest]:
        config = enhancer_pb2.EnhanceConfig(encoding=encoding, regions=regions)
        yield enhancer_pb2.EnhanceRequest(config=config)
        for start in range(0, len(frames), ENHANCE_BATCH_FRAMES):
            batch = media_pb2.FrameBatch(frames=frames[start : start + ENHANCE_BATCH_FRAMES])
            yield enhancer_pb2.EnhanceRequest(frames=batch)
        yield enhancer_pb2.EnhanceRequest(end=enhancer_pb2.EnhanceInputEnd())

    enhanced: list[media_pb2.Frame] = []
    async for response in clients.enhancer.enhance(requests(), timeout):
        if response.WhichOneof("event") == "frames":
            enhanced.extend(response.frames.frames)
    if len(enhanced) != len(frames):
        raise StageError(
            "enhancer",
            grpc.StatusCode.INTERNAL,
            f"the enhancer returned {len(enhanced)} idle frames of {len(frames)}",
        )
    return enhanced
