"""gRPC servicer of ``avatar.asr.v1.AsrService``: protos and status codes around the engines.

A Transcribe stream runs as two tasks beside the response generator: the reader takes
each request (within the idle timeout), runs voice activity on it in the voice-activity
pool and sends the events at once; the transcriber takes the utterances in order and
transcribes them in the transcription pool. Both put what they have on one queue that
the response generator drains, so audio keeps flowing in while an utterance is being
transcribed, and at most :data:`_PENDING_UTTERANCES` utterances wait (beyond that the
reader stops reading, and gRPC's flow control slows the client).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
from prometheus_client import CollectorRegistry

from avatar.asr.v1 import asr_pb2, asr_pb2_grpc
from avatar_asr.audio import AudioFormatError, check_sample_rate
from avatar_asr.config import AsrConfig
from avatar_asr.endpointing import EndpointSettings
from avatar_asr.metrics import AsrMetrics
from avatar_asr.protos import ResponseWriter
from avatar_asr.recognizer import UnsupportedLanguageError, WhisperRecognizer
from avatar_asr.session import (
    RecognitionSession,
    SessionEvent,
    SessionSettings,
    SpeechStarted,
    Utterance,
)
from avatar_asr.vad import VoiceActivityModel
from avatar_core.server import Service, create_service_with
from avatar_core.streams import payload, read_config

_LOGGER = logging.getLogger(__name__)
SERVICE_DESCRIPTOR = asr_pb2.DESCRIPTOR.services_by_name["AsrService"]
SERVICE_NAME = SERVICE_DESCRIPTOR.full_name
_PENDING_UTTERANCES = 2
_DONE = object()


@dataclass(frozen=True, slots=True)
class _Failure:
    """Ends the stream: an exception to raise, or a status to abort with."""

    error: BaseException | None = None
    code: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT
    message: str = ""


def _idle_failure(idle_seconds: float) -> _Failure:
    return _Failure(
        code=grpc.StatusCode.DEADLINE_EXCEEDED,
        message=f"no message for {idle_seconds:g} s (AVATAR_ASR_IDLE_TIMEOUT_SECONDS): send "
        "audio as it is recorded, and end when done",
    )


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
        try:
            settings, language = self._settings(config)
        except (AudioFormatError, UnsupportedLanguageError, ValueError) as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        session = RecognitionSession(self._vad, settings)
        writer = ResponseWriter()
        yield writer.started(self._recognizer.name, language, settings, config.interim_results)
        stream = _Stream(self, session, language, requests, context)
        self._metrics.streams_in_flight.inc()
        try:
            async for item in stream.run():
                if isinstance(item, _Failure):
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


class _Stream:
    """The reader and transcriber tasks of one Transcribe call."""

    def __init__(
        self,
        servicer: AsrServicer,
        session: RecognitionSession,
        language: str,
        requests: AsyncIterator[asr_pb2.TranscribeRequest],
        context: grpc.aio.ServicerContext,
    ) -> None:
        self._servicer = servicer
        self._metrics = servicer._metrics
        self._session = session
        self._language = language
        self._requests = requests
        self._context = context
        self._out: asyncio.Queue = asyncio.Queue()
        self._jobs: asyncio.Queue = asyncio.Queue(maxsize=_PENDING_UTTERANCES)
        self._ended: dict[int, float] = {}  # utterance -> when its end was detected
        self._last_ended = -1
        self._transcribing = False

    async def run(self) -> AsyncIterator[object]:
        """Yields session events, transcripts and at most one failure, then returns."""
        tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._transcribe())]
        try:
            while (item := await self._out.get()) is not _DONE:
                yield item
                if isinstance(item, _Failure):
                    return
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def final_sent(self, utterance: int) -> None:
        """Records the end of speech -> final transcript latency of an utterance."""
        ended = self._ended.pop(utterance, None)
        if ended is not None:
            self._metrics.final_latency_seconds.observe(time.perf_counter() - ended)

    async def _read(self) -> None:
        idle = self._servicer._config.idle_timeout_seconds
        chunks = aiter(payload(self._requests, self._context))
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    request = await asyncio.wait_for(anext(chunks, None), idle)
                except TimeoutError:
                    await self._out.put(_idle_failure(idle))
                    return
                if request is None:
                    break
                audio = request.audio
                events = await loop.run_in_executor(
                    self._servicer._vad_pool,
                    self._session.add_audio,
                    audio.pcm,
                    audio.sample_offset,
                    audio.sample_rate,
                )
                await self._dispatch(events)
            await self._dispatch(
                await loop.run_in_executor(self._servicer._vad_pool, self._session.finish)
            )
            await self._jobs.put(_DONE)
        except AudioFormatError as error:
            await self._out.put(_Failure(message=str(error)))
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except BaseException as error:  # an abort by payload(), or a client cancel
            await self._out.put(_Failure(error=error))

    async def _dispatch(self, events: list[SessionEvent]) -> None:
        for event in events:
            if isinstance(event, SpeechStarted):
                self._metrics.vad_events.labels("speech_started").inc()
                await self._out.put(event)
            elif event.final:
                self._metrics.vad_events.labels("speech_ended").inc()
                self._ended[event.utterance] = time.perf_counter()
                self._last_ended = event.utterance
                await self._out.put(event)
                await self._jobs.put(event)
            elif not self._transcribing and self._jobs.empty():
                # A partial only when nothing waits: finals never queue behind partials.
                await self._jobs.put(event)

    async def _transcribe(self) -> None:
        loop = asyncio.get_running_loop()
        recognizer = self._servicer._recognizer
        while (job := await self._jobs.get()) is not _DONE:
            if self._outdated(job):
                continue
            self._transcribing = True
            try:
                recognition = await loop.run_in_executor(
                    self._servicer._transcription_pool,
                    recognizer.transcribe,
                    job.audio,
                    self._language,
                    job.audio_start_seconds,
                )
            except Exception as error:
                _LOGGER.exception("transcription failed")
                await self._out.put(
                    _Failure(
                        code=grpc.StatusCode.INTERNAL, message=f"transcription failed: {error}"
                    )
                )
                return
            finally:
                self._transcribing = False
            self._record(job, recognition.seconds)
            if not self._outdated(job):
                await self._out.put((job, recognition))
        await self._out.put(_DONE)

    def _outdated(self, job: Utterance) -> bool:
        """Whether a job is a partial of an utterance that has ended (its final is due)."""
        return not job.final and job.utterance <= self._last_ended

    def _record(self, job: Utterance, seconds: float) -> None:
        metrics = self._metrics
        metrics.transcription_seconds.observe(seconds)
        if job.final:
            metrics.utterances.labels(job.reason.value).inc()
            duration = job.end_seconds - job.start_seconds
            if duration > 0:
                metrics.real_time_factor.observe(seconds / duration)


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
    )
    servicer = AsrServicer(config, recognizer, metrics)
    return create_service_with(
        servicer,
        asr_pb2_grpc.add_AsrServiceServicer_to_server,
        SERVICE_DESCRIPTOR,
        warm_up=servicer.warm_up,
        close=servicer.close,
    )
