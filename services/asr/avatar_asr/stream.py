"""The tasks of one Transcribe call: a reader and a transcriber beside the response stream.

The reader takes each request (within the idle timeout), runs voice activity on it in the
voice-activity pool and passes the events on at once; the transcriber takes the utterances
in order and transcribes them in the transcription pool. Both put what they have on one
queue that the servicer's response generator drains, so audio keeps flowing in while an
utterance is being transcribed. At most :data:`PENDING_UTTERANCES` utterances wait: beyond
that the reader stops reading, and gRPC's flow control slows the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc

from avatar.asr.v1 import asr_pb2
from avatar_asr.audio import AudioFormatError
from avatar_asr.metrics import AsrMetrics
from avatar_asr.recognizer import Recognition, WhisperRecognizer
from avatar_asr.session import RecognitionSession, SessionEvent, SpeechStarted, Utterance
from avatar_core.streams import payload

_LOGGER = logging.getLogger(__name__)
PENDING_UTTERANCES = 2
PARTIAL_BEAM_SIZE = 1
PARTIAL_REST = 2.0
"""After a transcription of t seconds, no partial is started for ``PARTIAL_REST`` * t: on
a busy machine partials come less often, so that one is less often still running when
the utterance ends (its final would wait for it) and they take at most a third of the
transcriber's time."""
_DONE = object()


@dataclass(frozen=True, slots=True)
class StreamWorkers:
    """What every stream of a server shares.

    Attributes:
        recognizer: The loaded Whisper model.
        transcription_pool: Threads that transcribe.
        vad_pool: Threads that run voice activity (apart, so a transcription never holds
            up the voice-activity events of another stream).
        metrics: Metrics to record.
        idle_timeout_seconds: A stream that sends nothing this long is ended.
    """

    recognizer: WhisperRecognizer
    transcription_pool: ThreadPoolExecutor
    vad_pool: ThreadPoolExecutor
    metrics: AsrMetrics
    idle_timeout_seconds: float


@dataclass(frozen=True, slots=True)
class Failure:
    """Ends the stream: an exception to raise (an abort, a cancel), or a status to abort with.

    Attributes:
        error: The exception the reader met, re-raised by the response generator.
        code: The status to abort with when there is no exception.
        message: Its message.
    """

    error: BaseException | None = None
    code: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT
    message: str = ""


def _idle_failure(idle_seconds: float) -> Failure:
    """The failure of a stream that sent nothing for ``idle_seconds``."""
    return Failure(
        code=grpc.StatusCode.DEADLINE_EXCEEDED,
        message=f"no message for {idle_seconds:g} s (AVATAR_ASR_IDLE_TIMEOUT_SECONDS): send "
        "audio as it is recorded, and end when done",
    )


class TranscribeStream:
    """The reader and transcriber tasks of one Transcribe call.

    Args:
        workers: The server's shared models, pools and metrics.
        session: The stream's voice activity and end-pointing.
        language: The language to transcribe.
        requests: The request stream, its config already read.
        context: The call's context.
    """

    def __init__(
        self,
        workers: StreamWorkers,
        session: RecognitionSession,
        language: str,
        requests: AsyncIterator[asr_pb2.TranscribeRequest],
        context: grpc.aio.ServicerContext,
    ) -> None:
        self._workers = workers
        self._metrics = workers.metrics
        self._session = session
        self._language = language
        self._requests = requests
        self._context = context
        self._out: asyncio.Queue = asyncio.Queue()
        self._jobs: asyncio.Queue = asyncio.Queue(maxsize=PENDING_UTTERANCES)
        self._ended: dict[int, float] = {}  # utterance -> when its end was detected
        self._last_ended = -1
        self._latest_early: dict[int, float] = {}  # utterance -> end of its latest early job
        self._early_results: dict[int, tuple[Utterance, Recognition]] = {}
        self._transcribing = False
        self._partials_from = 0.0  # perf_counter() time before which no partial starts

    async def run(self) -> AsyncIterator[object]:
        """Yields session events, transcripts and at most one failure, then returns."""
        tasks = [
            asyncio.create_task(self._read(), name="asr-read"),
            asyncio.create_task(self._transcribe(), name="asr-transcribe"),
        ]
        try:
            while (item := await self._out.get()) is not _DONE:
                yield item
                if isinstance(item, Failure):
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
        idle = self._workers.idle_timeout_seconds
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
                    self._workers.vad_pool,
                    self._session.add_audio,
                    audio.pcm,
                    audio.sample_offset,
                    audio.sample_rate,
                )
                await self._dispatch(events)
            await self._dispatch(
                await loop.run_in_executor(self._workers.vad_pool, self._session.finish)
            )
            await self._jobs.put(_DONE)
        except AudioFormatError as error:
            await self._out.put(Failure(message=str(error)))
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except BaseException as error:  # an abort by payload(), or a client cancel
            await self._out.put(Failure(error=error))

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
            elif event.early:
                # Made before the utterance ends, so its final need not wait for Whisper.
                self._latest_early[event.utterance] = event.end_seconds
                if not self._jobs.full():
                    await self._jobs.put(event)
            elif self._partial_wanted():
                await self._jobs.put(event)

    def _partial_wanted(self) -> bool:
        """A partial only when nothing waits (finals never queue behind partials) and the
        transcriber has rested since its last transcription."""
        idle = not self._transcribing and self._jobs.empty()
        return idle and time.perf_counter() >= self._partials_from

    async def _transcribe(self) -> None:
        while (job := await self._jobs.get()) is not _DONE:
            if self._outdated(job):
                continue
            recognition = self._early_result(job)
            if recognition is None:
                self._transcribing = True
                try:
                    recognition = await self._run_transcription(job)
                except Exception as error:
                    _LOGGER.exception("transcription failed")
                    message = f"transcription failed: {error}"
                    await self._out.put(Failure(code=grpc.StatusCode.INTERNAL, message=message))
                    return
                finally:
                    self._transcribing = False
                self._partials_from = time.perf_counter() + PARTIAL_REST * recognition.seconds
                self._metrics.transcription_seconds.observe(recognition.seconds)
            if job.early:
                self._early_results[job.utterance] = (job, recognition)
                continue
            if job.final:
                self._record_final(job, recognition.seconds)
            if not self._outdated(job):
                await self._out.put((job, recognition))
        await self._out.put(_DONE)

    async def _run_transcription(self, job: Utterance) -> Recognition:
        # A partial is decoded greedily: it is soon replaced, and a final may wait for it.
        partial = not job.final and not job.early
        return await asyncio.get_running_loop().run_in_executor(
            self._workers.transcription_pool,
            self._workers.recognizer.transcribe,
            job.audio,
            self._language,
            job.audio_start_seconds,
            PARTIAL_BEAM_SIZE if partial else None,
        )

    def _early_result(self, job: Utterance) -> Recognition | None:
        """The early transcription of a final's very audio, when one was made."""
        if not job.final:
            return None
        self._latest_early.pop(job.utterance, None)
        early = self._early_results.pop(job.utterance, None)
        if early is None:
            return None
        made_for, recognition = early
        same = (made_for.start_seconds, made_for.end_seconds) == (
            job.start_seconds,
            job.end_seconds,
        )
        if same and len(made_for.audio) == len(job.audio):
            self._metrics.early_finals.inc()
            return recognition
        return None

    def _outdated(self, job: Utterance) -> bool:
        """Whether a job is no longer wanted: a partial of an utterance that has ended, or
        an early final that a later silence of its utterance replaced."""
        if job.early:
            return self._latest_early.get(job.utterance) != job.end_seconds
        return not job.final and job.utterance <= self._last_ended

    def _record_final(self, job: Utterance, seconds: float) -> None:
        metrics = self._metrics
        metrics.utterances.labels(job.reason.value).inc()
        duration = job.end_seconds - job.start_seconds
        if duration > 0:
            metrics.real_time_factor.observe(seconds / duration)
