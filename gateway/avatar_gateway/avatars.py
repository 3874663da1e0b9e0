"""Avatar creation: validate the photo, prepare the face, render the idle clip and poster.

The idle clip and poster are rendered from the photo alone, so an avatar that lost them
gets them back (:meth:`AvatarFactory.restore_idle_media`).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator

import numpy as np

from avatar.animator.v1 import animator_pb2
from avatar.common.v1 import media_pb2
from avatar_core.images import decode_image
from avatar_gateway.clients import AnimatorClient
from avatar_gateway.mux import make_gif, write_mp4
from avatar_gateway.store import AvatarMedia, AvatarRecord, AvatarStore

IDLE_SAMPLE_RATE = 16_000
POSTER_FPS = 12.5


class AvatarFactory:
    """Creates avatars through the animator and keeps them in the store.

    Args:
        animator: Client of the animator service.
        store: Where avatars are kept.
        max_image_bytes: Largest photo accepted.
        fps: Frame rate of the idle clip.
        idle_clip_seconds: Length of the idle clip.
    """

    def __init__(
        self,
        animator: AnimatorClient,
        store: AvatarStore,
        *,
        max_image_bytes: int,
        fps: float,
        idle_clip_seconds: float,
    ) -> None:
        self._animator = animator
        self._store = store
        self._max_image_bytes = max_image_bytes
        self._fps = fps
        self._idle_seconds = idle_clip_seconds

    async def create(
        self, photo: bytes, display_name: str, timeout: float | None
    ) -> tuple[AvatarRecord, AvatarMedia]:
        """Validates, prepares and stores an avatar; returns its record and media.

        Raises:
            InvalidImageError: The bytes are not an acceptable image.
            StageError: The animator refused the photo (e.g. no face) or is down.
        """
        # Decoding here refuses bombs and non-images before they cross the network.
        await asyncio.to_thread(decode_image, photo, max_bytes=self._max_image_bytes)
        prepared = await self._animator.prepare(photo, timeout)
        idle_clip, poster = await self._idle_media(prepared.content_hash, photo, timeout)
        record = AvatarRecord(
            avatar_id=AvatarStore.new_id(),
            display_name=display_name,
            created_unix_seconds=time.time(),
            content_hash=prepared.content_hash,
            frame_width=prepared.frame_width,
            frame_height=prepared.frame_height,
            warnings=list(prepared.warnings),
        )
        media = AvatarMedia(photo=photo, idle_clip_mp4=idle_clip, poster_gif=poster)
        await asyncio.to_thread(self._store.save, record, media)
        return record, media

    async def restore_idle_media(
        self, record: AvatarRecord, photo: bytes, timeout: float | None
    ) -> AvatarMedia:
        """Renders an avatar's idle clip and poster again from its photo and stores them.

        Raises:
            StageError: The animator failed or is down.
        """
        idle_clip, poster = await self._idle_media(record.content_hash, photo, timeout)
        await asyncio.to_thread(self._store.save_idle_media, record.avatar_id, idle_clip, poster)
        return AvatarMedia(photo=photo, idle_clip_mp4=idle_clip, poster_gif=poster)

    async def _idle_media(
        self, content_hash: str, photo: bytes, timeout: float | None
    ) -> tuple[bytes, bytes]:
        """The idle clip (MP4) and the poster (GIF) of a photo."""
        frames = await self._render_idle(content_hash, photo, timeout)
        silence = np.zeros(round(len(frames) * IDLE_SAMPLE_RATE / self._fps), dtype=np.int16)
        idle_clip = await asyncio.to_thread(write_mp4, silence, IDLE_SAMPLE_RATE, frames, self._fps)
        poster = await asyncio.to_thread(self._poster, frames)
        return idle_clip, poster

    async def _render_idle(
        self, content_hash: str, photo: bytes, timeout: float | None
    ) -> list[bytes]:
        """Animates silence: blinks and small head motion, no speech, as a seamless loop."""
        samples = round(self._idle_seconds * IDLE_SAMPLE_RATE)
        # The clip's frame count is the motion's period: its last frame leads back to its first.
        loop_frames = math.ceil(samples * self._fps / IDLE_SAMPLE_RATE - 1e-9)

        async def requests() -> AsyncIterator[animator_pb2.AnimateRequest]:
            yield animator_pb2.AnimateRequest(
                config=animator_pb2.AnimateConfig(
                    content_hash=content_hash,
                    image=photo,
                    fps=self._fps,
                    sample_rate=IDLE_SAMPLE_RATE,
                    encoding=media_pb2.FRAME_ENCODING_JPEG,
                    loop_frames=loop_frames,
                )
            )
            yield animator_pb2.AnimateRequest(
                audio=media_pb2.AudioChunk(
                    pcm=bytes(2 * samples), sample_rate=IDLE_SAMPLE_RATE, sample_offset=0
                )
            )
            yield animator_pb2.AnimateRequest(end=animator_pb2.AnimateInputEnd())

        frames: list[bytes] = []
        async for response in self._animator.animate(requests(), timeout):
            if response.WhichOneof("event") == "frames":
                frames.extend(frame.data for frame in response.frames.frames)
        return frames

    def _poster(self, frames: list[bytes]) -> bytes:
        step = max(1, round(self._fps / POSTER_FPS))
        return make_gif(frames[::step], self._fps / step)
