"""gRPC servicer of ``avatar.asr.v1.AsrService``: protos and status codes around the engines.

Each Transcribe call's work runs in a :class:`~avatar_asr.stream.TranscribeStream`; the
servicer checks the config, numbers the responses and turns failures into statuses.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import grpc
from prometheus_client import CollectorRegistry

from avatar.asr.v1 import asr_pb2, asr_pb2_grpc
from avatar_asr.audio import AudioFormatError, check_sample_rate
from avatar_asr.config import AsrConfig
from avatar_asr.endpointing import EndpointSettings
from avatar_asr.metrics import AsrMetrics
from avatar_asr.protos import ResponseWriter
from avatar_asr.recognizer import UnsupportedLanguageError, WhisperRecognizer
from avatar_asr.session import RecognitionSession, SessionSettings
from avatar_asr.stream import Failure, StreamWorkers, TranscribeStream
from avatar_asr.vad import VoiceActivityModel
from avatar_core.server import Service, create_service_with
from avatar_core.streams import read_config

_LOGGER = logging.getLogger(__name__)
SERVICE_DESCRIPTOR = asr_pb2.DESCRIPTOR.services_by_name["AsrService"]
SERVICE_NAME = SERVICE_DESCRIPTOR.full_name


class AsrServicer(asr_pb2_grpc.AsrServiceServicer):
    """Voice activity and transcription of streams, converting engine types to protos.

    Args:
        config: The service's settings.
        recognizer: The (not yet loaded) Whisper model.
        metrics: Metrics to record.
    """

    def __init__(
        self, config: AsrConfig, recognizer: WhisperRecognizer, metrics: AsrMetrics
    ) -> None:
        self._config = config
        self._recognizer = recognizer
        self._metrics = metrics
        self._vad: VoiceActivityModel | None = None
        self._transcription_pool = metrics.service.thread_pool("asr", config.workers)
        self._vad_pool = metrics.service.thread_pool("asr_vad", 2)

    async def Transcribe(
        self,
        requests: AsyncIterator[asr_pb2.TranscribeRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[asr_pb2.TranscribeResponse]:
        """Streams started, voice activity, partial and final transcripts, then end."""
        config = await read_config(requests, context)
        if self._vad is None or not self._recognizer.languages:
            await context.abort(
                grpc.StatusCode.UNAVAILABLE, "the asr models are still loading: retry shortly"
            )
        try:
            settings, language = self._settings(config)
        except (AudioFormatError, UnsupportedLanguageError, ValueError) as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        session = RecognitionSession(self._vad, settings)
        writer = ResponseWriter()
        yield writer.started(self._recognizer.name, language, settings, config.interim_results)
        stream = TranscribeStream(self._workers(), session, language, requests, context)
        self._metrics.streams_in_flight.inc()
        try:
            async for item in stream.run():
                if isinstance(item, Failure):
                    if item.error is not None:
                        raise item.error
                    await context.abort(item.code, item.message)
                for response in writer.responses(item):
                    yield response
                    if response.HasField("final"):
                        stream.final_sent(response.final.utterance)
            yield writer.end(session)
        finally:
            self._metrics.streams_in_flight.dec()
            self._metrics.audio_seconds.inc(session.audio_seconds)

    async def ListModels(
        self, request: asr_pb2.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> asr_pb2.ListModelsResponse:
        """The model, its languages and the server's defaults."""
        recognizer, config = self._recognizer, self._config
        return asr_pb2.ListModelsResponse(
            models=[
                asr_pb2.Model(
                    name=recognizer.name,
                    languages=list(recognizer.languages),
                    multilingual=recognizer.multilingual,
                    path=str(recognizer.path or ""),
                )
            ],
            default_language=config.default_language,
            end_of_speech_ms=config.end_of_speech_ms,
            max_utterance_seconds=config.max_utterance_seconds,
            max_stream_seconds=config.max_stream_seconds,
        )

    def _workers(self) -> StreamWorkers:
        """What the server's streams share."""
        return StreamWorkers(
            self._recognizer,
            self._transcription_pool,
            self._vad_pool,
            self._metrics,
            self._config.idle_timeout_seconds,
        )

    def _settings(self, config: asr_pb2.TranscribeConfig) -> tuple[SessionSettings, str]:
        """The stream's settings from its config and the server's defaults.

        Raises:
            AudioFormatError: The sample rate is missing or out of range.
            UnsupportedLanguageError: The model does not transcribe the language.
            ValueError: Another setting is out of range.
        """
        defaults = self._config
        check_sample_rate(config.sample_rate)
        language = (config.language or defaults.default_language).strip().lower()
        self._recognizer.check_language(language)
        end_ms = config.end_of_speech_ms or defaults.end_of_speech_ms
        if not 100 <= end_ms <= 5000:
            raise ValueError(f"end_of_speech_ms must be 100-5000, got {end_ms}")
        threshold = config.speech_threshold or defaults.speech_threshold
        if not 0.05 <= threshold <= 0.95:  # NaN fails too
            raise ValueError(f"speech_threshold must be between 0.05 and 0.95, got {threshold}")
        endpoint = EndpointSettings(
            threshold=threshold,
            end_of_speech_seconds=end_ms / 1000,
            max_utterance_seconds=defaults.max_utterance_seconds,
        )
        settings = SessionSettings(
            sample_rate=config.sample_rate,
            endpoint=endpoint,
            interim_results=config.interim_results,
            partial_interval_seconds=defaults.partial_interval_seconds,
            max_stream_seconds=defaults.max_stream_seconds,
            early_transcription=defaults.early_transcription,
        )
        return settings, language

    async def warm_up(self) -> None:
        """Loads the voice-activity and Whisper models in a worker thread."""
        loop = asyncio.get_running_loop()
        service = self._metrics.service
        with service.loading("silero_vad"):
            self._vad = await loop.run_in_executor(self._vad_pool, VoiceActivityModel)
        with service.loading(f"whisper_{self._recognizer.name}"):
            await loop.run_in_executor(self._transcription_pool, self._recognizer.load)
        _LOGGER.info(
            "asr model %s (%s) from %s; languages: %s",
            self._recognizer.name,
            "multilingual" if self._recognizer.multilingual else "one language",
            self._recognizer.path,
            ", ".join(self._recognizer.languages[:8]),
        )

    def close(self) -> None:
        """Stops the worker threads."""
        self._transcription_pool.shutdown(wait=False, cancel_futures=True)
        self._vad_pool.shutdown(wait=False, cancel_futures=True)


def create_service(config: AsrConfig, registry: CollectorRegistry) -> Service:
    """Builds the asr :class:`Service` for the shared bootstrap."""
    metrics = AsrMetrics(registry)
    recognizer = WhisperRecognizer(
        config.model_path,
        beam_size=config.beam_size,
        threads=config.threads,
        workers=config.workers,
        device=config.device,
        compute_type=config.compute_type,
        window_padding_seconds=config.window_padding_seconds,
    )
    servicer = AsrServicer(config, recognizer, metrics)
    return create_service_with(
        servicer,
        asr_pb2_grpc.add_AsrServiceServicer_to_server,
        SERVICE_DESCRIPTOR,
        warm_up=servicer.warm_up,
        close=servicer.close,
    )
