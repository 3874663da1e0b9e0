"""gRPC servicer of ``avatar.animator.v1.AnimatorService``.

Thin: it converts protos to engine types and back, runs the blocking engine work
(face detection, rendering, JPEG encoding) in a thread pool, and maps engine
errors to status codes:

* not an image, an image bomb, no face, a face too small, bad settings, wrong
  stream order, overlapping audio: INVALID_ARGUMENT (the input is at fault,
  whatever the server's state);
* a content hash this replica has not prepared, sent without the image:
  FAILED_PRECONDITION "send the image" (any replica can serve once it has it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import grpc
import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from avatar.animator.v1 import animator_pb2, animator_pb2_grpc
from avatar.common.v1 import media_pb2
from avatar_animator.config import AnimatorConfig
from avatar_animator.engine import (
    AnimationSession,
    FacePreparer,
    MotionSettings,
    PreparedFace,
)
from avatar_animator.errors import AnimationInputError, AnimatorError, FacePreparationError
from avatar_core.frames import FrameFormatError, pcm_to_samples
from avatar_core.images import InvalidImageError, encode_jpeg
from avatar_core.metrics import ServiceMetrics
from avatar_core.server import Service
from avatar_core.streams import payload, read_config
from avatar_core.timing import Phoneme

DEFAULT_FPS = 25.0
DEFAULT_JPEG_QUALITY = 85
DEFAULT_BATCH_SIZE = 5
MAX_BATCH_SIZE = 100
# Frame batches stay well under 1 MiB (DESIGN.md section 3): raw frames are few per batch.
MAX_BATCH_BYTES = 800 * 1024
_FRAME_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.04, 0.1, 0.25)


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
        registry: Metrics registry of the server.
    """

    def __init__(self, config: AnimatorConfig, registry: CollectorRegistry) -> None:
        self._config = config
        # Model load time, the worker pool's queue and the prepared-face cache.
        self._service_metrics = ServiceMetrics(registry)
        self._executor = self._service_metrics.thread_pool("animate", config.workers)
        self._preparer = FacePreparer(
            output_width=config.frame_width,
            output_height=config.frame_height,
            crop_scale=config.crop_scale,
            cache_size=config.cache_size,
            max_image_bytes=config.max_image_bytes,
            max_image_pixels=config.max_image_pixels,
        )
        self._prepared = Counter(
            "avatar_animator_prepared_faces",
            "Face preparations requested, by whether the cache had the photo.",
            ["cache"],
            registry=registry,
        )
        self._frames = Counter(
            "avatar_animator_frames",
            "Frames rendered, by what drove the mouth (timings or audio).",
            ["driver"],
            registry=registry,
        )
        self._frame_seconds = Histogram(
            "avatar_animator_frame_seconds",
            "Time per frame of each step (render, encode).",
            ["step"],
            buckets=_FRAME_BUCKETS,
            registry=registry,
        )
        self._cached = Gauge(
            "avatar_animator_cached_faces", "Prepared faces in the cache.", registry=registry
        )

    async def warm_up(self) -> None:
        """Loads the face models before the server reports SERVING."""
        with self._service_metrics.loading("dlib_face_landmarks"):
            await self.run_blocking(self._preparer.warm_up)

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
        try:
            motion = _motion_settings(config.motion)
        except AnimationInputError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        face, cache_hit = await self._face_for(config, context)
        fps = config.fps or DEFAULT_FPS
        stream = _AnimateStream(self, face, fps, config, motion, output, context)
        if config.sample_rate:
            await stream.start_session(config.sample_rate)
        yield animator_pb2.AnimateResponse(
            sequence=0,
            started=animator_pb2.AnimateStarted(
                frame_width=face.width,
                frame_height=face.height,
                fps=fps,
                cache_hit=cache_hit,
                warnings=list(face.warnings),
            ),
        )
        async for request in payload(requests, context):
            if request.WhichOneof("message") == "audio":
                await stream.add_audio(request.audio)
            else:
                await stream.add_timings(request.timings)
            for batch in stream.full_batches():
                yield batch
        await stream.finish()
        for batch in stream.full_batches(flush=True):
            yield batch
        yield stream.end_message()

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
                self._prepared.labels("hit").inc()
                self._service_metrics.count_lookup("prepared_faces", hit=True)
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

    async def _prepare(self, image: bytes, context) -> tuple[PreparedFace, bool]:
        """Prepares a photo in the pool; bad photos abort with INVALID_ARGUMENT."""
        try:
            face, hit = await self.run_blocking(self._preparer.prepare, image)
        except (InvalidImageError, FacePreparationError) as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        except AnimatorError as error:
            await context.abort(grpc.StatusCode.INTERNAL, str(error))
        self._prepared.labels("hit" if hit else "miss").inc()
        self._service_metrics.count_lookup("prepared_faces", hit)
        self._cached.set(self._preparer.cache_length)
        return face, hit

    async def run_blocking(self, function: Callable, *args):
        """Runs blocking work in the pool."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    @property
    def max_audio_seconds(self) -> float:
        """Longest utterance one Animate call accepts."""
        return self._config.max_audio_seconds

    def record_frames(
        self, driver: str, count: int, render_seconds: float, encode_seconds: float
    ) -> None:
        """Counts rendered frames and observes the per-frame render and encode times."""
        self._frames.labels(driver).inc(count)
        self._frame_seconds.labels("render").observe(render_seconds / count)
        self._frame_seconds.labels("encode").observe(encode_seconds / count)

    def close(self) -> None:
        """Stops the worker threads."""
        self._executor.shutdown(wait=False, cancel_futures=True)


class _AnimateStream:
    """State of one Animate call: the session, pending frames, counters."""

    def __init__(self, servicer, face, fps, config, motion, output, context) -> None:
        self._servicer = servicer
        self._face = face
        self._fps = fps
        self._start_frame = config.start_frame
        self._loop_frames = config.loop_frames
        self._motion = motion
        self._output = output
        self._context = context
        self._session: AnimationSession | None = None
        self._early_phonemes: list[Phoneme] = []
        self._pending: list[media_pb2.Frame] = []
        self._sequence = 0
        self._frames = 0

    async def start_session(self, sample_rate: int) -> None:
        """Creates the engine session (once the sample rate is known)."""
        try:
            self._session = AnimationSession(
                self._face,
                fps=self._fps,
                sample_rate=sample_rate,
                start_frame=self._start_frame,
                loop_frames=self._loop_frames,
                motion=self._motion,
            )
        except AnimationInputError as error:
            await self._context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        if self._early_phonemes:
            self._session.push_phonemes(self._early_phonemes)

    async def add_audio(self, chunk: media_pb2.AudioChunk) -> None:
        """Appends an audio chunk (filling a gap before it with silence) and renders."""
        if self._session is None:
            if not chunk.sample_rate:
                await self._abort("sample_rate is unknown: set it in the config or the audio chunk")
            await self.start_session(chunk.sample_rate)
        session = self._session
        if chunk.sample_rate and chunk.sample_rate != session.sample_rate:
            await self._abort(
                f"audio chunk at {chunk.sample_rate} Hz in a {session.sample_rate} Hz stream"
            )
        try:
            samples = pcm_to_samples(chunk.pcm)
        except FrameFormatError as error:
            await self._abort(str(error))
        received = round(session.audio_seconds * session.sample_rate)
        if chunk.sample_offset < received:
            await self._abort(
                f"audio chunk at sample {chunk.sample_offset} overlaps earlier audio (expected {received})"
            )
        limit = self._servicer.max_audio_seconds
        if (chunk.sample_offset + len(samples)) / session.sample_rate > limit:
            await self._abort(f"utterance longer than the {limit:g} s limit")
        gap = chunk.sample_offset - received

        def work() -> list[media_pb2.Frame]:
            if gap:
                session.push_audio(np.zeros(gap, dtype=np.int16))
            session.push_audio(samples)
            return self._render(session.render_ready)

        self._pending.extend(await self._servicer.run_blocking(work))

    async def add_timings(self, timings: media_pb2.TimingTrack) -> None:
        """Adds phonemes; they drive the mouth from now on."""
        phonemes = [
            Phoneme(p.symbol, p.start_seconds, p.end_seconds, p.stressed) for p in timings.phonemes
        ]
        if self._session is None:
            self._early_phonemes.extend(phonemes)
            return
        try:
            self._session.push_phonemes(phonemes)
        except AnimationInputError as error:
            await self._abort(str(error))
        self._pending.extend(
            await self._servicer.run_blocking(self._render, self._session.render_ready)
        )

    async def finish(self) -> None:
        """Renders the frames left after the end of input."""
        if self._session is not None:
            session = self._session
            self._pending.extend(await self._servicer.run_blocking(self._render, session.finish))

    def full_batches(self, *, flush: bool = False):
        """Yields responses for the pending frames, whole batches only unless flushing."""
        size = self._output.batch_size
        while len(self._pending) >= size or (flush and self._pending):
            frames, self._pending = self._pending[:size], self._pending[size:]
            self._sequence += 1
            self._frames += len(frames)
            yield animator_pb2.AnimateResponse(
                sequence=self._sequence,
                frames=media_pb2.FrameBatch(frames=frames, fps=self._fps),
            )

    def end_message(self) -> animator_pb2.AnimateResponse:
        """The last response of the stream."""
        used_timings = self._session.used_timings if self._session else bool(self._early_phonemes)
        return animator_pb2.AnimateResponse(
            sequence=self._sequence + 1,
            end=animator_pb2.AnimateEnd(frames=self._frames, used_timings=used_timings),
        )

    def _render(self, produce: Callable[[], list]) -> list[media_pb2.Frame]:
        """Renders with ``produce`` and encodes the frames (runs in the pool), timing both."""
        session = self._session
        started = time.perf_counter()
        frames = produce()
        rendered = time.perf_counter()
        first = session.frames_rendered - len(frames)
        encoded = [
            self._output.encode(frame, first + offset) for offset, frame in enumerate(frames)
        ]
        if frames:
            driver = "timings" if session.used_timings else "audio"
            self._servicer.record_frames(
                driver, len(frames), rendered - started, time.perf_counter() - rendered
            )
        return encoded

    async def _abort(self, message: str) -> None:
        await self._context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)


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
    """Builds the animator's :class:`Service` for the shared bootstrap."""
    servicer = AnimatorServicer(config, registry)

    async def close() -> None:
        servicer.close()

    return Service(
        registrations=[
            (
                animator_pb2.DESCRIPTOR.services_by_name["AnimatorService"].full_name,
                lambda server: animator_pb2_grpc.add_AnimatorServiceServicer_to_server(
                    servicer, server
                ),
            )
        ],
        warm_up=servicer.warm_up,
        close=close,
    )
