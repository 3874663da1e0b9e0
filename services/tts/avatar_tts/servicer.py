"""gRPC servicer of ``avatar.tts.v1.TtsService``: protos and status codes around the registry."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import grpc
import numpy as np
from prometheus_client import CollectorRegistry

from avatar.common.v1 import media_pb2
from avatar.tts.v1 import tts_pb2, tts_pb2_grpc
from avatar_core.server import Service, create_service_with
from avatar_tts.audio import Resampler
from avatar_tts.config import TtsConfig
from avatar_tts.engines.base import (
    CloningNotSupportedError,
    InvalidSpeakerSampleError,
    InvalidTextError,
    SpeakerSampleRequiredError,
    SynthesisChunk,
    TtsError,
    UnknownVoiceError,
    VoiceInfo,
    VoiceUnavailableError,
)
from avatar_tts.metrics import TtsMetrics
from avatar_tts.voices import VoiceRegistry, build_registry

_LOGGER = logging.getLogger(__name__)
SERVICE_DESCRIPTOR = tts_pb2.DESCRIPTOR.services_by_name["TtsService"]
SERVICE_NAME = SERVICE_DESCRIPTOR.full_name
_MIN_SAMPLE_RATE = 8000
_MAX_SAMPLE_RATE = 192_000
_T = TypeVar("_T")
_DONE = object()

_STATUS_OF_ERROR: list[tuple[type[TtsError], grpc.StatusCode]] = [
    (InvalidTextError, grpc.StatusCode.INVALID_ARGUMENT),
    (SpeakerSampleRequiredError, grpc.StatusCode.INVALID_ARGUMENT),
    (InvalidSpeakerSampleError, grpc.StatusCode.INVALID_ARGUMENT),
    (UnknownVoiceError, grpc.StatusCode.NOT_FOUND),
    (VoiceUnavailableError, grpc.StatusCode.FAILED_PRECONDITION),
    (CloningNotSupportedError, grpc.StatusCode.FAILED_PRECONDITION),
]


def status_of(error: TtsError) -> grpc.StatusCode:
    """Maps an engine error to the gRPC status a client gets (INTERNAL when unexpected)."""
    for error_type, code in _STATUS_OF_ERROR:
        if isinstance(error, error_type):
            return code
    return grpc.StatusCode.INTERNAL


class TtsServicer(tts_pb2_grpc.TtsServiceServicer):
    """Streams synthesis from worker threads, converting engine types to protos.

    Args:
        voices: The voice registry.
        workers: Threads that run the blocking synthesis.
        metrics: Metrics to record.
    """

    def __init__(self, voices: VoiceRegistry, workers: int, metrics: TtsMetrics) -> None:
        self._voices = voices
        self._executor = metrics.service.thread_pool("tts", workers)
        self._metrics = metrics

    async def Synthesize(
        self, request: tts_pb2.SynthesizeRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[tts_pb2.SynthesizeResponse]:
        """Streams started, audio chunks interleaved with timings, then end."""
        started_at = time.perf_counter()
        if request.sample_rate and not _MIN_SAMPLE_RATE <= request.sample_rate <= _MAX_SAMPLE_RATE:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"sample_rate {request.sample_rate} is outside "
                f"{_MIN_SAMPLE_RATE}-{_MAX_SAMPLE_RATE} Hz (0 keeps the voice's own rate)",
            )
        try:
            info = self._voices.resolve(request.voice)
            # Checking the request may decode a speaker sample: keep it off the event loop.
            chunks = await asyncio.get_running_loop().run_in_executor(
                self._executor,
                self._voices.synthesize,
                request.text,
                info.name,
                request.speaker_sample or None,
            )
        except TtsError as error:
            await context.abort(status_of(error), str(error))
        rate = request.sample_rate or info.sample_rate
        yield tts_pb2.SynthesizeResponse(
            sequence=0,
            started=tts_pb2.SynthesisStarted(
                voice=info.name, sample_rate=rate, has_timings=info.has_timings
            ),
        )
        stream = _ResponseStream(Resampler(info.sample_rate, rate), rate)
        try:
            async for chunk in iterate_in_thread(chunks, self._executor):
                for response in stream.responses(chunk):
                    yield response
                if stream.total_samples and not stream.first_chunk_recorded:
                    stream.first_chunk_recorded = True
                    self._metrics.first_chunk_seconds.labels(info.name).observe(
                        time.perf_counter() - started_at
                    )
        except TtsError as error:
            _LOGGER.error("synthesis with voice %s failed: %s", info.name, error)
            await context.abort(status_of(error), str(error))
        for response in stream.finish():
            yield response
        self._record(info, stream.total_samples / rate, time.perf_counter() - started_at)

    async def ListVoices(
        self, request: tts_pb2.ListVoicesRequest, context: grpc.aio.ServicerContext
    ) -> tts_pb2.ListVoicesResponse:
        """Lists every configured voice with whether it really loaded, the default marked."""
        voices = [_voice_proto(voice) for voice in self._voices.voices()]
        for voice in voices:
            voice.is_default = voice.name == self._voices.default_voice
        return tts_pb2.ListVoicesResponse(voices=voices, default_voice=self._voices.default_voice)

    def _record(self, info: VoiceInfo, duration: float, elapsed: float) -> None:
        self._metrics.audio_seconds.labels(info.name).inc(duration)
        if duration > 0:
            self._metrics.real_time_factor.labels(info.name).observe(elapsed / duration)

    async def warm_up(self) -> None:
        """Loads every voice in a worker thread (models can take seconds)."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._voices.load)
        self._record_loads()
        for voice in self._voices.voices():
            if not voice.available:
                _LOGGER.error(
                    "voice %r (%s) is NOT_SERVING (health check %s): requests for it get "
                    "FAILED_PRECONDITION, the other voices keep serving. Reason: %s",
                    voice.name,
                    voice.engine,
                    voice_health_name(voice.name),
                    voice.error,
                )

    def health_checks(self) -> dict[str, bool]:
        """Each voice's health-check name and whether the voice can serve."""
        return {voice_health_name(v.name): v.available for v in self._voices.voices()}

    def _record_loads(self) -> None:
        """Reports each engine's load time and the coqui model cache's lookups."""
        service = self._metrics.service
        for engine, seconds in self._voices.load_seconds.items():
            service.model_load_seconds.labels(engine).set(seconds)
        for engine in self._voices.engines:
            cache = getattr(engine, "model_cache", None)
            if cache is not None:
                service.cache_lookups.labels("coqui_models", "hit").inc(cache.hits)
                service.cache_lookups.labels("coqui_models", "miss").inc(cache.misses)

    def close(self) -> None:
        """Stops the worker threads."""
        self._executor.shutdown(wait=False, cancel_futures=True)


class _ResponseStream:
    """Turns engine chunks into numbered responses: audio (resampled) then its timings."""

    def __init__(self, resampler: Resampler, sample_rate: int) -> None:
        self._resampler = resampler
        self._sample_rate = sample_rate
        self.sequence = 0
        self.total_samples = 0
        self.first_chunk_recorded = False

    def responses(self, chunk: SynthesisChunk) -> Iterator[tts_pb2.SynthesizeResponse]:
        """Responses for one engine chunk."""
        yield from self._audio(self._resampler.process(chunk.samples))
        if chunk.phonemes or chunk.words:
            self.sequence += 1
            yield tts_pb2.SynthesizeResponse(sequence=self.sequence, timings=_timing_track(chunk))

    def finish(self) -> Iterator[tts_pb2.SynthesizeResponse]:
        """The resampler's last audio, then ``end``."""
        yield from self._audio(self._resampler.flush())
        self.sequence += 1
        yield tts_pb2.SynthesizeResponse(
            sequence=self.sequence,
            end=tts_pb2.SynthesisEnd(
                total_samples=self.total_samples,
                duration_seconds=self.total_samples / self._sample_rate,
            ),
        )

    def _audio(self, samples: np.ndarray) -> Iterator[tts_pb2.SynthesizeResponse]:
        if not len(samples):
            return
        self.sequence += 1
        yield tts_pb2.SynthesizeResponse(
            sequence=self.sequence,
            audio=media_pb2.AudioChunk(
                pcm=samples.astype("<i2", copy=False).tobytes(),
                sample_rate=self._sample_rate,
                sample_offset=self.total_samples,
            ),
        )
        self.total_samples += len(samples)


def _timing_track(chunk: SynthesisChunk) -> media_pb2.TimingTrack:
    return media_pb2.TimingTrack(
        phonemes=[
            media_pb2.Phoneme(
                symbol=p.symbol,
                start_seconds=p.start_seconds,
                end_seconds=p.end_seconds,
                stressed=p.stressed,
            )
            for p in chunk.phonemes
        ],
        words=[
            media_pb2.Word(text=w.text, start_seconds=w.start_seconds, end_seconds=w.end_seconds)
            for w in chunk.words
        ],
    )


def _voice_proto(voice: VoiceInfo) -> tts_pb2.Voice:
    return tts_pb2.Voice(
        name=voice.name,
        engine=voice.engine,
        language=voice.language,
        sample_rate=voice.sample_rate,
        supports_cloning=voice.supports_cloning,
        supports_streaming=voice.supports_streaming,
        has_timings=voice.has_timings,
        available=voice.available,
        error=voice.error,
        description=voice.description,
    )


async def iterate_in_thread(
    iterator: Iterator[_T], executor: ThreadPoolExecutor
) -> AsyncIterator[_T]:
    """Runs a blocking iterator in worker threads, one ``next()`` at a time.

    When the consumer stops early (client cancel, deadline, error), the iterator is closed in
    a worker once its ``next()`` in flight has returned, so engines stop their work and free
    their locks without blocking the event loop.
    """
    in_flight: Future | None = None
    try:
        while True:
            in_flight = executor.submit(next, iterator, _DONE)
            item = await asyncio.wrap_future(in_flight)
            in_flight = None
            if item is _DONE:
                return
            yield item
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            if in_flight is None:
                _submit_quietly(executor, close)
            else:
                in_flight.add_done_callback(lambda _: _submit_quietly(executor, close))


def _submit_quietly(executor: ThreadPoolExecutor, function) -> None:
    try:
        executor.submit(function)
    except RuntimeError:  # the executor is shutting down; run it here instead
        function()


def voice_health_name(voice: str) -> str:
    """The standard health check's service name for one voice, e.g.
    ``avatar.tts.v1.TtsService/en-us``: SERVING once the voice is loaded, NOT_SERVING when
    its model failed to load (the server itself keeps serving the other voices)."""
    return f"{SERVICE_NAME}/{voice}"


def create_service(config: TtsConfig, registry: CollectorRegistry) -> Service:
    """Builds the tts :class:`Service` for the shared bootstrap."""
    metrics = TtsMetrics(registry)

    def count_speaker_lookup(hit: bool) -> None:
        metrics.service.count_lookup("speaker_embeddings", hit)

    voices = build_registry(config, on_speaker_cache_lookup=count_speaker_lookup)
    servicer = TtsServicer(voices, config.workers, metrics)
    return create_service_with(
        servicer,
        tts_pb2_grpc.add_TtsServiceServicer_to_server,
        SERVICE_DESCRIPTOR,
        warm_up=servicer.warm_up,
        close=servicer.close,
        health_checks=servicer.health_checks,
    )
