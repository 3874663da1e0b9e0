"""gRPC servicer of the public ``avatar.gateway.v1.GatewayService``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator

import grpc

from avatar.common.v1 import media_pb2
from avatar.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from avatar.tts.v1 import tts_pb2
from avatar_core.images import InvalidImageError
from avatar_gateway.avatars import AvatarFactory
from avatar_gateway.clients import StageError
from avatar_gateway.config import GatewayConfig
from avatar_gateway.conversations import ConversationStore, ConversationStoreError
from avatar_gateway.converse import SessionError, SessionHost
from avatar_gateway.metrics import GatewayMetrics
from avatar_gateway.pipeline import Clients, SpeakPipeline, SpeakPlan
from avatar_gateway.plan import answers_by_chat
from avatar_gateway.store import (
    AvatarDamagedError,
    AvatarMedia,
    AvatarMediaMissingError,
    AvatarNotFoundError,
    AvatarRecord,
    AvatarStore,
)
from avatar_gateway.turns import ChatTurns
from avatar_gateway.validation import display_name_problem, speak_request_problem

log = logging.getLogger(__name__)

# Longest wait for the tts service's voice list.
LIST_VOICES_SECONDS = 10.0


class GatewayServicer(gateway_pb2_grpc.GatewayServiceServicer):
    """Avatars, Speak and live sessions, composed from the downstream services.

    Args:
        config: Gateway settings.
        clients: The downstream services.
        store: The avatar store.
        conversations: Where chat turns are kept.
        metrics: The gateway's metrics.
    """

    def __init__(
        self,
        config: GatewayConfig,
        clients: Clients,
        store: AvatarStore,
        conversations: ConversationStore,
        metrics: GatewayMetrics,
    ) -> None:
        self._config = config
        self._clients = clients
        self._store = store
        self._turns = ChatTurns(conversations)
        self._metrics = metrics
        self._sessions = SessionHost(config, clients, store, self._turns, metrics)
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
        """Returns one avatar, with its media when asked (rendered again when lost)."""
        try:
            record = await asyncio.to_thread(self._store.get, request.avatar_id)
            media = await self._media(record, context) if request.include_media else None
        except AvatarNotFoundError as error:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(error))
        except AvatarDamagedError as error:
            await context.abort(grpc.StatusCode.DATA_LOSS, str(error))
        return _avatar_message(record, media)

    async def _media(self, record: AvatarRecord, context: grpc.aio.ServicerContext) -> AvatarMedia:
        """The avatar's media; a lost idle clip or poster is rendered again from the photo."""
        try:
            return await asyncio.to_thread(self._store.media, record.avatar_id)
        except AvatarMediaMissingError as missing:
            log.warning("%s; rendering it again from the photo", missing)
            photo = await asyncio.to_thread(self._store.photo, record.avatar_id)
            try:
                return await self._factory.restore_idle_media(
                    record, photo, context.time_remaining()
                )
            except StageError as error:
                self._metrics.errors.labels(error.stage, error.code.name).inc()
                await context.abort(
                    error.code, f"{missing}, and it cannot be rendered again now: {error}"
                )

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
        pipeline = SpeakPipeline(
            self._clients, plan, context.time_remaining, self._config.sentences_ahead
        )
        sequence = 0
        last_sent = None
        turn_pending = self._turns.kept(plan)
        self._metrics.in_flight.inc()
        try:
            async with contextlib.aclosing(pipeline.events()) as events:
                async for event in events:
                    if sequence == 0:
                        yield self._started(plan, record, pipeline.measurements.sample_rate)
                        sequence += 1
                    kind = event.WhichOneof("event")
                    self._count_media(event, kind)
                    now = time.perf_counter()
                    if last_sent is not None and kind in ("audio", "frames"):
                        self._metrics.inter_chunk_gap.observe(now - last_sent)
                    last_sent = now
                    event.sequence = sequence
                    sequence += 1
                    yield event
            turn_pending = False
            await self._turns.remember(plan, pipeline.spoken_text())
            summary = pipeline.measurements.summary()
            self._record_metrics(summary, plan, pipeline.measurements.av_offsets)
            yield gateway_pb2.SpeakResponse(sequence=sequence, summary=summary)
        except StageError as error:
            self._metrics.errors.labels(error.stage, error.code.name).inc()
            await context.abort(error.code, str(error))
        except ConversationStoreError as error:
            await context.abort(
                grpc.StatusCode.UNAVAILABLE, f"the answer was spoken but not remembered: {error}"
            )
        finally:
            if turn_pending:
                await self._turns.remember_interrupted(plan, pipeline.spoken_text())
            self._metrics.in_flight.dec()

    async def Converse(
        self,
        request_iterator: AsyncIterator[gateway_pb2.ConverseRequest],
        context: grpc.aio.ServicerContext,
    ) -> None:
        """A live session: config first, then turns and interrupts; media on one clock."""

        async def receive() -> gateway_pb2.ConverseRequest | None:
            message = await context.read()
            if message is grpc.aio.EOF:
                return None
            if not isinstance(message, gateway_pb2.ConverseRequest):
                # Bytes that did not parse (the safety interceptor says how).
                problem = getattr(message, "message", "the request is not a ConverseRequest")
                raise SessionError(grpc.StatusCode.INVALID_ARGUMENT, problem)
            return message

        try:
            await self._sessions.serve(receive, context.write, context.time_remaining)
        except SessionError as error:
            await context.abort(error.code, error.message, error.trailing_metadata)

    async def ListVoices(
        self, request: gateway_pb2.ListVoicesRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.ListVoicesResponse:
        """The tts service's voices; UNAVAILABLE naming the tts stage when it is down."""
        try:
            voices = await self._clients.tts.list_voices(_bounded(context.time_remaining()))
        except StageError as error:
            self._metrics.errors.labels(error.stage, error.code.name).inc()
            await context.abort(error.code, str(error))
        return _voices_message(voices)

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
        except AvatarDamagedError as error:
            await context.abort(grpc.StatusCode.DATA_LOSS, str(error))
        chat = answers_by_chat(request.mode, text)
        if chat and not self._config.llm_address:
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                "chat needs an LLM: set AVATAR_GATEWAY_LLM_ADDRESS to the llm service",
            )
        history = ()
        if chat:
            try:
                history = await self._turns.history(request.conversation_id)
            except ConversationStoreError as error:
                await context.abort(grpc.StatusCode.UNAVAILABLE, str(error))
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
            include_mp4=request.include_mp4,
            history=history,
        )
        return plan, record

    def _started(
        self, plan: SpeakPlan, record: AvatarRecord, sample_rate: int
    ) -> gateway_pb2.SpeakResponse:
        return gateway_pb2.SpeakResponse(
            sequence=0,
            started=gateway_pb2.SpeakStarted(
                request_id=uuid.uuid4().hex,
                sample_rate=sample_rate,
                fps=plan.fps,
                frame_width=record.frame_width,
                frame_height=record.frame_height,
                mode=gateway_pb2.SPEAK_MODE_CHAT if plan.chat else gateway_pb2.SPEAK_MODE_SPEAK,
            ),
        )

    def _count_media(self, event: gateway_pb2.SpeakResponse, kind: str | None) -> None:
        if kind == "frames":
            self._metrics.frames.inc(len(event.frames.frames))
        elif kind == "audio":
            self._metrics.audio_seconds.inc(len(event.audio.pcm) / 2 / event.audio.sample_rate)

    def _record_metrics(
        self, summary: gateway_pb2.SpeakSummary, plan: SpeakPlan, av_offsets: list[float]
    ) -> None:
        quality = "high" if plan.high_quality else "low"
        self._metrics.time_to_first_audio.labels(quality).observe(
            summary.time_to_first_audio_seconds
        )
        self._metrics.time_to_first_frame.labels(quality).observe(
            summary.time_to_first_frame_seconds
        )
        self._metrics.real_time_factor.labels(quality).observe(summary.real_time_factor)
        for stage in summary.stages:
            self._metrics.stage_seconds.labels(stage.stage).observe(stage.seconds)
        for offset in av_offsets:
            self._metrics.av_offset.observe(abs(offset))


def _bounded(time_remaining: float | None) -> float:
    """The deadline of a short downstream call: the caller's, at most LIST_VOICES_SECONDS."""
    if time_remaining is None:
        return LIST_VOICES_SECONDS
    return min(time_remaining, LIST_VOICES_SECONDS)


def _voices_message(voices: tts_pb2.ListVoicesResponse) -> gateway_pb2.ListVoicesResponse:
    return gateway_pb2.ListVoicesResponse(
        voices=[
            gateway_pb2.Voice(
                name=voice.name,
                language=voice.language,
                sample_rate=voice.sample_rate,
                is_default=voice.is_default,
                available=voice.available,
                description=voice.description,
            )
            for voice in voices.voices
        ],
        default_voice=voices.default_voice,
    )


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
