"""gRPC servicer of ``avatar.animator.v1.AnimatorService``.

Thin: it converts protos to engine types and back, runs the blocking engine work
(face detection, rendering, JPEG encoding) in a thread pool, and maps engine
errors to status codes. What one Animate stream keeps (gaps, batching, the end) lives
in :mod:`avatar_animator.stream`.

Status codes:

* not an image, an image bomb, no face, a face too small, bad settings, wrong
  stream order, overlapping audio: INVALID_ARGUMENT (the input is at fault,
  whatever the server's state);
* a content hash this replica has not prepared, sent without the image:
  FAILED_PRECONDITION "send the image" (any replica can serve once it has it);
* ``lipsync`` "onnx" on a server without a working lip-sync model:
  FAILED_PRECONDITION with the reason; an unknown ``lipsync``: INVALID_ARGUMENT;
* a ``touchup`` with no regions, more than 8, an empty one, or a fidelity outside
  0-1: INVALID_ARGUMENT.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import grpc
from prometheus_client import CollectorRegistry

from avatar.animator.v1 import animator_pb2, animator_pb2_grpc
from avatar.common.v1 import media_pb2
from avatar_animator.config import AnimatorConfig
from avatar_animator.engine import FacePreparer, MotionSettings, PreparedFace
from avatar_animator.errors import AnimationInputError, AnimatorError, FacePreparationError
from avatar_animator.lipsync import LipSyncRenderer
from avatar_animator.lipsync_backends import (
    LipSyncBackends,
    LipSyncUnavailableError,
    UnknownLipSyncError,
)
from avatar_animator.metrics import AnimatorMetrics
from avatar_animator.stream import AnimateStream, FrameBatch, StreamSettings
from avatar_core.images import InvalidImageError, encode_jpeg
from avatar_core.server import Service, create_service_with
from avatar_core.streams import payload, read_config
from avatar_core.timing import Phoneme
from avatar_core.touchup import DEFAULT_FIDELITY, Region, RegionTouchup, TouchupError

DEFAULT_FPS = 25.0
DEFAULT_JPEG_QUALITY = 85
DEFAULT_BATCH_SIZE = 5
MAX_BATCH_SIZE = 100
# Frame batches stay well under 1 MiB (the contract of avatar.common.v1): raw frames are few per batch.
MAX_BATCH_BYTES = 800 * 1024


@dataclass(frozen=True, slots=True)
class _Output:
    """How frames go back: encoding, JPEG quality, frames per batch."""

    encoding: int
    quality: int
    batch_size: int

    def encode(self, rgb, index: int) -> media_pb2.Frame:
        """One rendered frame as a ``Frame`` message."""
        height, width = rgb.shape[:2]
        if self.encoding == media_pb2.FRAME_ENCODING_RGB24:
            data = rgb.tobytes()
        else:
            data = encode_jpeg(rgb, self.quality)
        return media_pb2.Frame(
            index=index, data=data, width=width, height=height, encoding=self.encoding
        )


class AnimatorServicer(animator_pb2_grpc.AnimatorServiceServicer):
    """Prepares faces and animates utterances; blocking work runs in a thread pool.

    Args:
        config: Service settings.
        metrics: The animator's metrics.
    """

    def __init__(self, config: AnimatorConfig, metrics: AnimatorMetrics) -> None:
        self._config = config
        self._metrics = metrics
        self._executor = metrics.service.thread_pool("animate", config.workers)
        self._preparer = FacePreparer(
            output_width=config.frame_width,
            output_height=config.frame_height,
            crop_scale=config.crop_scale,
            cache_size=config.cache_size,
            max_image_bytes=config.max_image_bytes,
            max_image_pixels=config.max_image_pixels,
        )
        self._lipsync = LipSyncBackends(config)

    async def warm_up(self) -> None:
        """Loads the face models and the lip-sync model before the server reports SERVING."""
        with self._metrics.service.loading("dlib_face_landmarks"):
            await self.run_blocking(self._preparer.warm_up)
        await self.run_blocking(self._lipsync.load)
        if self._lipsync.load_seconds is not None:
            self._metrics.service.model_load_seconds.labels("lipsync").set(
                self._lipsync.load_seconds
            )

    def health_checks(self) -> dict[str, bool]:
        """Each lip-sync backend's health-check name and whether it serves."""
        return self._lipsync.health()

    async def PrepareAvatar(
        self, request: animator_pb2.PrepareAvatarRequest, context: grpc.aio.ServicerContext
    ) -> animator_pb2.PrepareAvatarResponse:
        """Finds the face and its landmarks; caches the result by content hash."""
        if not request.image:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "image is empty: send a face photo"
            )
        face, _ = await self._prepare(request.image, context)
        still = await self.run_blocking(encode_jpeg, face.image, 90)
        return animator_pb2.PrepareAvatarResponse(
            content_hash=face.content_hash,
            landmarks=[animator_pb2.Point(x=float(x), y=float(y)) for x, y in face.landmarks],
            faces_found=face.faces_found,
            frame_width=face.width,
            frame_height=face.height,
            still_jpeg=still,
            warnings=list(face.warnings),
        )

    async def Animate(
        self,
        request_iterator: AsyncIterator[animator_pb2.AnimateRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[animator_pb2.AnimateResponse]:
        """Streams started, frame batches as soon as the speech covers them, then end."""
        requests = aiter(request_iterator)
        config = await read_config(requests, context)
        output = await self._output(config, context)
        settings = await self._stream_settings(config, output, context)
        lipsync, lipsync_name, lipsync_warning = await self._lipsync_for(config, context)
        touchup = await _touchup(config, context)
        face, cache_hit = await self._face_for(config, context)
        # The default renderer draws every pixel from the still, its mouth interior in
        # the still's own softness and grain: the still's regions are touched up once
        # and its frames need none. A lip-sync model's mouth is its own: touched per frame.
        still_touchup = touchup if lipsync is None else None
        if config.appearance or still_touchup is not None:
            face = await self._drawn_from(face, config.appearance or None, still_touchup, context)
        frame_touchup = touchup if lipsync is not None else None
        stream = AnimateStream(
            face, settings, output.encode, self.run_blocking, self._metrics, lipsync, frame_touchup
        )
        if config.sample_rate:
            await _start(stream, config.sample_rate, context)
        fps = settings.fps
        yield animator_pb2.AnimateResponse(
            sequence=0,
            started=animator_pb2.AnimateStarted(
                frame_width=face.width,
                frame_height=face.height,
                fps=fps,
                cache_hit=cache_hit,
                warnings=[*face.warnings, *([lipsync_warning] if lipsync_warning else [])],
                lipsync=lipsync_name,
            ),
        )
        try:
            async for request in payload(requests, context):
                if request.WhichOneof("message") == "audio":
                    chunk = request.audio
                    await stream.add_audio(chunk.pcm, chunk.sample_offset, chunk.sample_rate)
                else:
                    await stream.add_phonemes(_phonemes(request.timings))
                for batch in stream.batches():
                    yield _frames_response(batch, fps)
                if stream.rest_due:  # the first frame went alone, before the rest was made
                    await stream.render_rest()
                    for batch in stream.batches():
                        yield _frames_response(batch, fps)
            await stream.finish()
        except AnimationInputError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        for batch in stream.batches(flush=True):
            yield _frames_response(batch, fps)
        yield animator_pb2.AnimateResponse(
            sequence=stream.batches_sent + 1,
            end=animator_pb2.AnimateEnd(
                frames=stream.frames_sent, used_timings=stream.used_timings
            ),
        )

    async def _stream_settings(
        self, config: animator_pb2.AnimateConfig, output: _Output, context
    ) -> StreamSettings:
        """The stream's frame rate, batching and motion; bad motion settings abort."""
        try:
            motion = _motion_settings(config.motion)
        except AnimationInputError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        return StreamSettings(
            fps=config.fps or DEFAULT_FPS,
            batch_size=output.batch_size,
            max_audio_seconds=self._config.max_audio_seconds,
            start_frame=config.start_frame,
            loop_frames=config.loop_frames,
            motion=motion,
        )

    async def _lipsync_for(
        self, config: animator_pb2.AnimateConfig, context
    ) -> tuple[LipSyncRenderer | None, str, str | None]:
        """Who draws the stream's mouth; an unknown or unavailable backend aborts."""
        try:
            return self._lipsync.choose(config.lipsync)
        except UnknownLipSyncError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        except LipSyncUnavailableError as error:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(error))

    async def _output(self, config: animator_pb2.AnimateConfig, context) -> _Output:
        """Validates the output settings of a stream."""
        quality = config.jpeg_quality or DEFAULT_JPEG_QUALITY
        if not 1 <= quality <= 100:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"jpeg_quality must be 1-100, got {quality}"
            )
        batch_size = config.batch_size or DEFAULT_BATCH_SIZE
        if batch_size > MAX_BATCH_SIZE:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"batch_size must be at most {MAX_BATCH_SIZE}, got {batch_size}",
            )
        encoding = config.encoding or media_pb2.FRAME_ENCODING_JPEG
        if encoding not in (media_pb2.FRAME_ENCODING_JPEG, media_pb2.FRAME_ENCODING_RGB24):
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"unknown frame encoding {encoding}"
            )
        if encoding == media_pb2.FRAME_ENCODING_RGB24:
            frame_bytes = 3 * self._config.frame_width * self._config.frame_height
            batch_size = max(1, min(batch_size, MAX_BATCH_BYTES // frame_bytes))
        return _Output(encoding, quality, batch_size)

    async def _face_for(
        self, config: animator_pb2.AnimateConfig, context
    ) -> tuple[PreparedFace, bool]:
        """The prepared face a stream names: from the cache, else from its image."""
        if not config.content_hash and not config.image:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "config needs a content_hash or an image"
            )
        if config.content_hash:
            face = self._preparer.cached(config.content_hash)
            if face is not None:
                self._metrics.count_preparation(cache_hit=True)
                return face, True
            if not config.image:
                await context.abort(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"avatar {config.content_hash[:16]} is not prepared on this server: "
                    "send the image with the config",
                )
            if FacePreparer.content_hash(config.image) != config.content_hash:
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT, "content_hash is not the SHA-256 of the image"
                )
        return await self._prepare(config.image, context)

    async def _drawn_from(
        self,
        face: PreparedFace,
        appearance: bytes | None,
        touchup: RegionTouchup | None,
        context,
    ) -> PreparedFace:
        """The face drawn from the stream's appearance still (or its own), its regions
        touched up when asked; a bad still aborts."""
        try:
            drawn, hit = await self.run_blocking(
                self._preparer.with_appearance, face, appearance, touchup
            )
        except (InvalidImageError, FacePreparationError) as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"appearance: {error}")
        self._metrics.count_drawn_still(cache_hit=hit, touched=touchup is not None)
        self._metrics.cached_faces.set(self._preparer.cache_length)
        return drawn

    async def _prepare(self, image: bytes, context) -> tuple[PreparedFace, bool]:
        """Prepares a photo in the pool; bad photos abort with INVALID_ARGUMENT."""
        try:
            face, hit = await self.run_blocking(self._preparer.prepare, image)
        except (InvalidImageError, FacePreparationError) as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        except AnimatorError as error:
            await context.abort(grpc.StatusCode.INTERNAL, str(error))
        self._metrics.count_preparation(cache_hit=hit)
        self._metrics.cached_faces.set(self._preparer.cache_length)
        return face, hit

    async def run_blocking(self, function: Callable, *args):
        """Runs blocking work in the pool."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def close(self) -> None:
        """Stops the worker threads."""
        self._executor.shutdown(wait=False, cancel_futures=True)


async def _start(stream: AnimateStream, sample_rate: int, context) -> None:
    """Starts the stream's session; a bad setting or sample rate aborts."""
    try:
        stream.start(sample_rate)
    except AnimationInputError as error:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))


async def _touchup(config: animator_pb2.AnimateConfig, context) -> RegionTouchup | None:
    """The stream's touch-up of its frames' moving regions, if it asks for one; bad
    regions or fidelity abort."""
    if not config.HasField("touchup"):
        return None
    asked = config.touchup
    fidelity = asked.fidelity if asked.HasField("fidelity") else DEFAULT_FIDELITY
    try:
        regions = [Region.checked(r.x, r.y, r.width, r.height) for r in asked.regions]
        return RegionTouchup(regions, fidelity)
    except TouchupError as error:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"touchup: {error}")


def _phonemes(timings: media_pb2.TimingTrack) -> list[Phoneme]:
    return [Phoneme(p.symbol, p.start_seconds, p.end_seconds, p.stressed) for p in timings.phonemes]


def _frames_response(
    batch: FrameBatch[media_pb2.Frame], fps: float
) -> animator_pb2.AnimateResponse:
    return animator_pb2.AnimateResponse(
        sequence=batch.sequence, frames=media_pb2.FrameBatch(frames=batch.frames, fps=fps)
    )


def _motion_settings(motion: media_pb2.MotionSettings) -> MotionSettings:
    """Engine motion settings from the proto, with its zero-means-default rules."""
    return MotionSettings(
        seed=motion.seed,
        blinks_per_minute=0.0 if motion.no_blinks else motion.blinks_per_minute or 15.0,
        head_motion=motion.head_motion or (0.0 if motion.still_head else 1.0),
        still_head=motion.still_head,
        articulation=motion.articulation or 1.0,
        brow_raise=motion.brow_raise,
    )


def create_service(config: AnimatorConfig, registry: CollectorRegistry) -> Service:
    """Builds the animator's :class:`Service` for the shared bootstrap.

    Besides the service's own health check, each lip-sync backend has one
    (``avatar.animator.v1.AnimatorService/default``, ``.../onnx`` with a model):
    NOT_SERVING for a model that failed to load, while the default renderer serves.
    """
    servicer = AnimatorServicer(config, AnimatorMetrics(registry))
    return create_service_with(
        servicer,
        animator_pb2_grpc.add_AnimatorServiceServicer_to_server,
        animator_pb2.DESCRIPTOR.services_by_name["AnimatorService"],
        warm_up=servicer.warm_up,
        close=servicer.close,
        health_checks=servicer.health_checks,
    )
