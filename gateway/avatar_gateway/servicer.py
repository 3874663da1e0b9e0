"""gRPC servicer of the public ``avatar.gateway.v1.GatewayService``."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import grpc

from avatar.common.v1 import media_pb2
from avatar.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from avatar_core.images import InvalidImageError
from avatar_gateway.avatars import AvatarFactory
from avatar_gateway.clients import StageError
from avatar_gateway.config import GatewayConfig
from avatar_gateway.metrics import AvSyncMeter, GatewayMetrics
from avatar_gateway.pipeline import Clients, SpeakPipeline, SpeakPlan, SpeakStats
from avatar_gateway.recording import StreamRecorder
from avatar_gateway.sentences import is_question
from avatar_gateway.store import AvatarMedia, AvatarNotFoundError, AvatarRecord, AvatarStore
from avatar_gateway.validation import display_name_problem, speak_request_problem

MP4_CHUNK_BYTES = 512 * 1024


class GatewayServicer(gateway_pb2_grpc.GatewayServiceServicer):
    """Avatars and Speak, composed from the downstream services.

    Args:
        config: Gateway settings.
        clients: The downstream services.
        store: The avatar store.
        metrics: The gateway's metrics.
    """

    def __init__(
        self, config: GatewayConfig, clients: Clients, store: AvatarStore, metrics: GatewayMetrics
    ) -> None:
        self._config = config
        self._clients = clients
        self._store = store
        self._metrics = metrics
        self._factory = AvatarFactory(
            clients.animator,
            store,
            max_image_bytes=config.max_image_bytes,
            fps=config.fps,
            idle_clip_seconds=config.idle_clip_seconds,
        )

    async def CreateAvatar(
        self, request: gateway_pb2.CreateAvatarRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.Avatar:
        """Validates the photo, prepares the face, renders idle media, stores the avatar."""
        if not request.image:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "image is empty: send a face photo"
            )
        problem = display_name_problem(request.display_name)
        if problem:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        try:
            record, media = await self._factory.create(
                request.image, request.display_name, context.time_remaining()
            )
        except InvalidImageError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"not a usable image: {error}")
        except StageError as error:
            self._metrics.errors.labels(error.stage, error.code.name).inc()
            await context.abort(error.code, error.details)
        return _avatar_message(record, media)

    async def GetAvatar(
        self, request: gateway_pb2.GetAvatarRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.Avatar:
        """Returns one avatar, with its media when asked."""
        try:
            record = await asyncio.to_thread(self._store.get, request.avatar_id)
            media = (
                await asyncio.to_thread(self._store.media, request.avatar_id)
                if request.include_media
                else None
            )
        except AvatarNotFoundError as error:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(error))
        return _avatar_message(record, media)

    async def ListAvatars(
        self, request: gateway_pb2.ListAvatarsRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.ListAvatarsResponse:
        """Lists every avatar without media."""
        records = await asyncio.to_thread(self._store.list)
        return gateway_pb2.ListAvatarsResponse(avatars=[_avatar_message(r, None) for r in records])

    async def DeleteAvatar(
        self, request: gateway_pb2.DeleteAvatarRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.DeleteAvatarResponse:
        """Deletes an avatar."""
        try:
            await asyncio.to_thread(self._store.delete, request.avatar_id)
        except AvatarNotFoundError as error:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(error))
        return gateway_pb2.DeleteAvatarResponse()

    async def Speak(
        self, request: gateway_pb2.SpeakRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[gateway_pb2.SpeakResponse]:
        """Streams sentences, audio and frames, then the MP4 when asked, then a summary."""
        plan, record = await self._plan(request, context)
        quality = "high" if plan.high_quality else "low"
        pipeline = SpeakPipeline(
            self._clients, plan, context.time_remaining, self._config.sentences_ahead
        )
        recorder: StreamRecorder | None = None
        sync = AvSyncMeter(plan.fps)
        sequence = 0
        last_sent = None
        self._metrics.in_flight.inc()
        try:
            async for event in pipeline.events():
                if sequence == 0:
                    yield self._started(plan, record, pipeline.stats, sequence)
                    sequence += 1
                    if request.include_mp4:
                        recorder = StreamRecorder(pipeline.stats.sample_rate, plan.fps)
                self._observe(event, pipeline.stats, recorder, sync)
                now = time.perf_counter()
                if last_sent is not None and event.WhichOneof("event") in ("audio", "frames"):
                    self._metrics.inter_chunk_gap.observe(now - last_sent)
                last_sent = now
                event.sequence = sequence
                sequence += 1
                yield event
            if recorder is not None:
                async for chunk in self._video_chunks(recorder, pipeline.stats):
                    chunk.sequence = sequence
                    sequence += 1
                    yield chunk
            summary = self._summary(pipeline.stats)
            self._record_metrics(summary, quality)
            for offset in sync.offsets():
                self._metrics.av_offset.observe(abs(offset))
            yield gateway_pb2.SpeakResponse(sequence=sequence, summary=summary)
        except StageError as error:
            self._metrics.errors.labels(error.stage, error.code.name).inc()
            await context.abort(error.code, str(error))
        finally:
            self._metrics.in_flight.dec()
            if recorder is not None:
                recorder.close()

    async def _plan(
        self, request: gateway_pb2.SpeakRequest, context: grpc.aio.ServicerContext
    ) -> tuple[SpeakPlan, AvatarRecord]:
        """Validates a Speak request; aborts with a clear status when it is bad."""
        text = request.text.strip()
        problem = speak_request_problem(request, self._config.max_text_chars)
        if problem:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        try:
            record = await asyncio.to_thread(self._store.get, request.avatar_id)
            photo = await asyncio.to_thread(self._store.photo, request.avatar_id)
        except AvatarNotFoundError as error:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"{error}; create it with CreateAvatar")
        mode = request.mode
        chat = mode == gateway_pb2.SPEAK_MODE_CHAT or (
            mode == gateway_pb2.SPEAK_MODE_AUTO and is_question(text)
        )
        if chat and not self._config.llm_address:
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                "chat needs an LLM: set AVATAR_GATEWAY_LLM_ADDRESS to the llm service",
            )
        plan = SpeakPlan(
            text=text,
            chat=chat,
            high_quality=request.quality == gateway_pb2.QUALITY_HIGH,
            voice=request.voice,
            conversation_id=request.conversation_id,
            content_hash=record.content_hash,
            photo=photo,
            fps=request.fps or self._config.fps,
            frame_encoding=request.frame_encoding or media_pb2.FRAME_ENCODING_JPEG,
            motion=request.motion,
        )
        return plan, record

    def _started(self, plan: SpeakPlan, record: AvatarRecord, stats: SpeakStats, sequence: int):
        return gateway_pb2.SpeakResponse(
            sequence=sequence,
            started=gateway_pb2.SpeakStarted(
                request_id=uuid.uuid4().hex,
                sample_rate=stats.sample_rate,
                fps=plan.fps,
                frame_width=record.frame_width,
                frame_height=record.frame_height,
                mode=gateway_pb2.SPEAK_MODE_CHAT if plan.chat else gateway_pb2.SPEAK_MODE_SPEAK,
            ),
        )

    def _observe(
        self, event, stats: SpeakStats, recorder: StreamRecorder | None, sync: AvSyncMeter
    ) -> None:
        kind = event.WhichOneof("event")
        if kind == "sentence":
            sync.sentence(event.sentence.start_seconds)
        elif kind == "frames":
            sync.frames(event.frames)
            if stats.first_frame_at is None:
                stats.first_frame_at = time.perf_counter()
            stats.frames += len(event.frames.frames)
            self._metrics.frames.inc(len(event.frames.frames))
            if recorder is not None:
                recorder.add_frames(event.frames)
        elif kind == "audio":
            sync.audio(event.audio)
            self._metrics.audio_seconds.inc(len(event.audio.pcm) / 2 / event.audio.sample_rate)
            if recorder is not None:
                recorder.add_audio(event.audio)

    async def _video_chunks(
        self, recorder: StreamRecorder, stats: SpeakStats
    ) -> AsyncIterator[gateway_pb2.SpeakResponse]:
        data = await recorder.finish()
        stats.add_stage("mux", recorder.busy_seconds)
        for offset in range(0, len(data), MP4_CHUNK_BYTES):
            piece = data[offset : offset + MP4_CHUNK_BYTES]
            last = offset + MP4_CHUNK_BYTES >= len(data)
            yield gateway_pb2.SpeakResponse(video=gateway_pb2.VideoChunk(data=piece, last=last))

    def _summary(self, stats: SpeakStats) -> gateway_pb2.SpeakSummary:
        total = time.perf_counter() - stats.started_at
        audio_seconds = stats.samples / stats.sample_rate if stats.sample_rate else 0.0
        return gateway_pb2.SpeakSummary(
            time_to_first_audio_seconds=_since(stats.started_at, stats.first_audio_at),
            time_to_first_frame_seconds=_since(stats.started_at, stats.first_frame_at),
            total_seconds=total,
            audio_seconds=audio_seconds,
            real_time_factor=total / audio_seconds if audio_seconds else 0.0,
            frames=stats.frames,
            sentences=stats.sentences,
            stages=[
                gateway_pb2.StageTiming(stage=stage, seconds=seconds)
                for stage, seconds in stats.stage_seconds.items()
            ],
            spoken_text=" ".join(stats.spoken_text),
        )

    def _record_metrics(self, summary: gateway_pb2.SpeakSummary, quality: str) -> None:
        self._metrics.time_to_first_audio.labels(quality).observe(
            summary.time_to_first_audio_seconds
        )
        self._metrics.time_to_first_frame.labels(quality).observe(
            summary.time_to_first_frame_seconds
        )
        self._metrics.real_time_factor.labels(quality).observe(summary.real_time_factor)
        for stage in summary.stages:
            self._metrics.stage_seconds.labels(stage.stage).observe(stage.seconds)


def _since(start: float, moment: float | None) -> float:
    return moment - start if moment is not None else 0.0


def _avatar_message(record: AvatarRecord, media: AvatarMedia | None) -> gateway_pb2.Avatar:
    avatar = gateway_pb2.Avatar(
        avatar_id=record.avatar_id,
        display_name=record.display_name,
        created_unix_seconds=record.created_unix_seconds,
        frame_width=record.frame_width,
        frame_height=record.frame_height,
        warnings=record.warnings,
    )
    if media is not None:
        avatar.idle_clip_mp4 = media.idle_clip_mp4
        avatar.poster_gif = media.poster_gif
    return avatar
