"""High quality's "enhance once": each avatar's still, enhanced one time, and what moves.

Every frame is a warp of the avatar's still plus a synthesised mouth, so enhancing
whole frames repeats the same work on the same pixels. Instead, the still (the
animator's output-sized crop of the photo) goes through the enhancer once per avatar;
the animator draws every frame from that enhanced still (``AnimateConfig.appearance``),
and per frame only the regions that move are worked on: the mouth and jaw, and the
eyes, feathered into the rest. Which service does that depends on the backend that
enhanced the still (``EnhanceStarted.backend``): OpenCV's filter runs in the animator
too (``AnimateConfig.touchup``, :attr:`Appearance.touchup`), which touches the still's
regions up once and draws the frames from it, so the frames need no trip to the enhancer
(and, with its default renderer, no per-frame touch-up: every pixel it draws comes from
that still); a restoration
model (``onnx``) stays in the enhancer, which gets every frame with the regions
(``EnhanceConfig.regions``).

:class:`EnhancedStills` keeps the results in memory, least recently used out first,
and computes each at most once even when several requests ask at the same time.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import numpy as np

from avatar.animator.v1 import animator_pb2
from avatar.common.v1 import media_pb2
from avatar.enhancer.v1 import enhancer_pb2
from avatar_gateway.clients import AnimatorClient, EnhancerClient, StageError

# JPEG quality of the enhanced still: it is the source of every frame.
STILL_JPEG_QUALITY = 95
# The enhancer backend whose per-frame work the animator can do itself.
OPENCV_BACKEND = "opencv"
# Room around the landmarks for the head's sway and the jaw's travel, as a share of
# the face's width.
MOUTH_MARGIN = 0.16
EYE_MARGIN = 0.08
# dlib's 68 points: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67.
_LOWER_FACE = [*range(3, 14), 33, *range(48, 68)]
_EYES = (range(36, 42), range(42, 48))
_BROWS = (range(17, 22), range(22, 27))


@dataclass(frozen=True, slots=True)
class Appearance:
    """An avatar's enhanced still and the regions of its frames that move.

    Attributes:
        still: The enhanced still, JPEG, the size of the animator's frames.
        regions: Mouth and jaw, and each eye, in frame pixels.
        backend: The enhancer backend that enhanced the still ("opencv", "onnx"; empty
            when the enhancer did not say).
        fidelity: The fidelity it enhanced with, when the enhancer said.
    """

    still: bytes
    regions: tuple[enhancer_pb2.Region, ...]
    backend: str = ""
    fidelity: float | None = None

    @property
    def touchup(self) -> animator_pb2.Touchup | None:
        """The animator's touch-up of the moving regions that stands in for the enhancer's
        per-frame work: only for a still enhanced with OpenCV (the filter the animator
        runs too), else None (a restoration model's frames go through the enhancer)."""
        if self.backend != OPENCV_BACKEND or not self.regions:
            return None
        touchup = animator_pb2.Touchup(
            regions=[
                animator_pb2.Region(x=r.x, y=r.y, width=r.width, height=r.height)
                for r in self.regions
            ]
        )
        if self.fidelity is not None:
            touchup.fidelity = self.fidelity
        return touchup


class EnhancedStills:
    """Each avatar's :class:`Appearance`, made once through the animator and enhancer.

    Args:
        animator: Gives the still and its landmarks (PrepareAvatar, cached there).
        enhancer: Enhances the still.
        capacity: Avatars kept.
    """

    def __init__(self, animator: AnimatorClient, enhancer: EnhancerClient, capacity: int = 64):
        self._animator = animator
        self._enhancer = enhancer
        self._capacity = max(1, capacity)
        self._done: OrderedDict[str, Appearance] = OrderedDict()
        self._pending: dict[str, asyncio.Task[Appearance]] = {}

    def __len__(self) -> int:
        return len(self._done)

    async def get(self, content_hash: str, photo: bytes, timeout: float | None) -> Appearance:
        """The avatar's appearance, made now when it is not kept yet.

        Raises:
            StageError: The animator or the enhancer failed.
        """
        if content_hash in self._done:
            self._done.move_to_end(content_hash)
            return self._done[content_hash]
        task = self._pending.get(content_hash)
        if task is None:
            task = asyncio.create_task(self._make(photo, timeout), name="enhance avatar still")
            self._pending[content_hash] = task
            task.add_done_callback(lambda done: self._finished(content_hash, done))
        # Shielded: one caller leaving does not cancel the work the others wait for.
        return await asyncio.shield(task)

    def _finished(self, content_hash: str, task: asyncio.Task[Appearance]) -> None:
        self._pending.pop(content_hash, None)
        if task.cancelled() or task.exception() is not None:
            return
        self._done[content_hash] = task.result()
        while len(self._done) > self._capacity:
            self._done.popitem(last=False)

    async def _make(self, photo: bytes, timeout: float | None) -> Appearance:
        prepared = await self._animator.prepare(photo, timeout)
        landmarks = np.array([(p.x, p.y) for p in prepared.landmarks], np.float32)
        still, started = await self._enhanced(prepared.still_jpeg, timeout)
        return Appearance(
            still,
            moving_regions(landmarks, prepared.frame_width, prepared.frame_height),
            backend=started.backend,
            fidelity=started.fidelity if started.HasField("fidelity") else None,
        )

    async def _enhanced(
        self, still_jpeg: bytes, timeout: float | None
    ) -> tuple[bytes, enhancer_pb2.EnhanceStarted]:
        """The enhanced still, and the enhancer's started event (its backend, fidelity)."""

        async def requests() -> AsyncIterator[enhancer_pb2.EnhanceRequest]:
            yield enhancer_pb2.EnhanceRequest(
                config=enhancer_pb2.EnhanceConfig(
                    encoding=media_pb2.FRAME_ENCODING_JPEG, jpeg_quality=STILL_JPEG_QUALITY
                )
            )
            frame = media_pb2.Frame(index=0, data=still_jpeg)
            yield enhancer_pb2.EnhanceRequest(frames=media_pb2.FrameBatch(frames=[frame]))
            yield enhancer_pb2.EnhanceRequest(end=enhancer_pb2.EnhanceInputEnd())

        started = enhancer_pb2.EnhanceStarted()
        async for response in self._enhancer.enhance(requests(), timeout):
            kind = response.WhichOneof("event")
            if kind == "started":
                started = response.started
            elif kind == "frames" and response.frames.frames:
                return response.frames.frames[0].data, started
        raise StageError(
            "enhancer",
            grpc.StatusCode.UNAVAILABLE,
            "the enhancer ended the still's stream without a frame",
        )


def moving_regions(
    landmarks: np.ndarray, width: int, height: int
) -> tuple[enhancer_pb2.Region, ...]:
    """The parts of an avatar's frames that change: mouth and jaw, and each eye with
    its brow, with room for the head's sway, clipped to the frame.

    Args:
        landmarks: The still's 68 landmarks, (68, 2), frame pixels.
        width: Frame width.
        height: Frame height.
    """
    if landmarks.shape != (68, 2):
        return (enhancer_pb2.Region(x=0, y=0, width=width, height=height),)
    face_width = float(landmarks[:17, 0].max() - landmarks[:17, 0].min())
    regions = [_box(landmarks[_LOWER_FACE], MOUTH_MARGIN * face_width, width, height)]
    for eye, brow in zip(_EYES, _BROWS, strict=True):
        points = landmarks[[*eye, *brow]]
        regions.append(_box(points, EYE_MARGIN * face_width, width, height))
    return tuple(region for region in regions if region.width and region.height)


def _box(points: np.ndarray, margin: float, width: int, height: int) -> enhancer_pb2.Region:
    left = int(max(0, np.floor(points[:, 0].min() - margin)))
    top = int(max(0, np.floor(points[:, 1].min() - margin)))
    right = int(min(width, np.ceil(points[:, 0].max() + margin)))
    bottom = int(min(height, np.ceil(points[:, 1].max() + margin)))
    return enhancer_pb2.Region(
        x=left, y=top, width=max(0, right - left), height=max(0, bottom - top)
    )
