"""The user's microphone of a live session, forwarded to the asr service.

:class:`VoiceInput` takes each audio chunk the client sends (on the session's reader
task), checks it, and forwards it to a :class:`SpeechListener`: one asr ``Transcribe``
stream, opened when audio first comes and ended after :data:`IDLE_CLOSE_SECONDS` with
none (the next audio opens another, its offsets rebased so the asr's times still read
on the microphone's clock). What the asr says and what goes wrong arrive in the
session's inbox as :class:`HeardEvent`, :class:`ListenerFailed` and
:class:`VoiceProblem`, for the session loop to act on between ticks.

Bounds: at most :data:`QUEUE_CHUNKS` chunks wait for the asr stream; beyond that
:meth:`VoiceInput.feed` waits, the reader stops reading, and gRPC's flow control holds
the client back (audio faster than real time runs at the asr's pace). The asr service
bounds each stream's length and idle time itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import grpc

from avatar.asr.v1 import asr_pb2
from avatar.common.v1 import media_pb2
from avatar_gateway.clients import AsrClient, StageError
from avatar_gateway.converse.echo import EchoGuard
from avatar_gateway.validation import converse_audio_problem

log = logging.getLogger(__name__)

QUEUE_CHUNKS = 100
"""Audio chunks that may wait for the asr stream (2 s of 20 ms chunks)."""
IDLE_CLOSE_SECONDS = 10.0
"""Without audio this long, the asr stream is ended (its speech gets its final)."""
RETRY_SECONDS = 5.0
"""After the asr stream failed, audio is dropped this long before one is opened again."""
PROBLEM_INTERVAL_SECONDS = 1.0
"""Bad chunks get at most one error event per this many seconds."""
NO_ASR_MESSAGE = "speech input needs the asr service: set AVATAR_GATEWAY_ASR_ADDRESS"
_SERIALS = itertools.count(1)
_ARRIVALS_KEPT = 3000  # chunk arrival times kept to date speech (a minute of 20 ms chunks)


@dataclass(frozen=True, slots=True)
class ListenSettings:
    """How a session listens.

    Attributes:
        language: ISO 639-1 code; empty for the asr service's default.
        end_of_speech_ms: Silence that ends an utterance; 0 for the asr's default.
        barge_in: Whether speech that starts while the avatar talks stops it.
        interim_results: Whether partial transcripts are asked for.
        speech_mode: The mode of speech turns (the session's, or CHAT).
    """

    language: str = ""
    end_of_speech_ms: int = 0
    barge_in: bool = True
    interim_results: bool = False
    speech_mode: int = 0


@dataclass(frozen=True, slots=True)
class HeardEvent:
    """One event of an asr stream, with its times moved onto the microphone's clock.

    Attributes:
        listener: The stream it came from.
        response: The asr's event (times already on the microphone's clock).
    """

    listener: SpeechListener
    response: asr_pb2.TranscribeResponse


@dataclass(frozen=True, slots=True)
class ListenerFailed:
    """An asr stream failed.

    Attributes:
        listener: The stream.
        error: Why.
    """

    listener: SpeechListener
    error: StageError


@dataclass(frozen=True, slots=True)
class VoiceProblem:
    """Audio that cannot be heard: bad, or no asr service.

    Attributes:
        code: The gRPC status code that names it.
        message: What is wrong, in words.
    """

    code: grpc.StatusCode
    message: str


Post = Callable[[object], None]
"""Puts an item into the session's inbox and wakes the session."""


class SpeechListener:
    """One asr Transcribe stream of a session's microphone.

    Args:
        client: The asr service.
        config: The stream's config.
        base_offset: The microphone sample where the stream starts.
        post: Where its events go.
    """

    def __init__(
        self,
        client: AsrClient,
        config: asr_pb2.TranscribeConfig,
        base_offset: int,
        post: Post,
    ) -> None:
        self.serial = next(_SERIALS)
        self.config = config
        self.base_offset = base_offset
        self.accepting = True
        self.failed = False
        self._client = client
        self._post = post
        self._queue: asyncio.Queue[media_pb2.AudioChunk | None] = asyncio.Queue(QUEUE_CHUNKS)
        self._arrivals: deque[tuple[int, float]] = deque(maxlen=_ARRIVALS_KEPT)
        self._task = asyncio.create_task(self._run(), name="converse asr stream")

    @property
    def task(self) -> asyncio.Task[None]:
        """The task reading the stream's events."""
        return self._task

    async def feed(self, chunk: media_pb2.AudioChunk, received_at: float) -> None:
        """Queues a chunk for the stream; waits while the queue is full."""
        samples = len(chunk.pcm) // 2
        self._arrivals.append((chunk.sample_offset + samples, received_at))
        rebased = media_pb2.AudioChunk(
            pcm=chunk.pcm,
            sample_rate=self.config.sample_rate,
            sample_offset=chunk.sample_offset - self.base_offset,
        )
        await self._queue.put(rebased)

    def arrival_of(self, seconds: float) -> float | None:
        """When the chunk holding microphone time ``seconds`` arrived (None: unknown)."""
        sample = seconds * self.config.sample_rate
        for end, arrived in self._arrivals:
            if end >= sample:
                return arrived
        return self._arrivals[-1][1] if self._arrivals else None

    def close(self) -> None:
        """Ends the stream's input; the asr sends the finals of speech still going on."""
        if self.accepting:
            self.accepting = False
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)

    def cancel(self) -> asyncio.Task[None]:
        """Cancels the stream at once; returns its task."""
        self.accepting = False
        self._task.cancel()
        return self._task

    async def _requests(self) -> AsyncIterator[asr_pb2.TranscribeRequest]:
        yield asr_pb2.TranscribeRequest(config=self.config)
        while True:
            try:
                chunk = await asyncio.wait_for(self._queue.get(), IDLE_CLOSE_SECONDS)
            except TimeoutError:
                chunk = None
            if chunk is None:
                self.accepting = False
                yield asr_pb2.TranscribeRequest(end=asr_pb2.TranscribeInputEnd())
                return
            yield asr_pb2.TranscribeRequest(audio=chunk)

    async def _run(self) -> None:
        try:
            async for response in self._client.transcribe(self._requests(), None):
                self._post(HeardEvent(self, self._on_microphone_clock(response)))
        except StageError as error:
            self.failed = True
            self._post(ListenerFailed(self, error))
        except Exception as error:  # never leave the session without a word
            self.failed = True
            log.exception("the asr stream of a live session failed")
            failure = StageError("asr", grpc.StatusCode.INTERNAL, f"the asr stream failed: {error}")
            self._post(ListenerFailed(self, failure))
        finally:
            self.accepting = False
            while not self._queue.empty():  # frees a feed() waiting for room
                self._queue.get_nowait()

    def _on_microphone_clock(
        self, response: asr_pb2.TranscribeResponse
    ) -> asr_pb2.TranscribeResponse:
        shift = self.base_offset / self.config.sample_rate
        kind = response.WhichOneof("event")
        if kind in ("speech_started", "speech_ended"):
            getattr(response, kind).time_seconds += shift
        elif kind in ("partial", "final"):
            transcript = getattr(response, kind)
            transcript.start_seconds += shift
            transcript.end_seconds += shift
            for word in transcript.words:
                word.start_seconds += shift
                word.end_seconds += shift
        return response


class VoiceInput:
    """Checks the session's microphone audio and forwards it to the asr service.

    Args:
        settings: How the session listens.
        client: The asr service; None when none is configured.
        echo: Gets each chunk's level.
        post: Puts problems into the session's inbox.
        now: The time source.
    """

    def __init__(
        self,
        settings: ListenSettings,
        client: AsrClient | None,
        echo: EchoGuard,
        post: Post,
        now: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.settings = settings
        self.listener: SpeechListener | None = None
        self._client = client
        self._echo = echo
        self._post = post
        self._now = now
        self._rate: int | None = None
        self._next_offset = 0
        self._retry_at = 0.0
        self._told_at: float | None = None
        self._stopping: set[asyncio.Task] = set()

    async def feed(self, chunk: media_pb2.AudioChunk, received_at: float) -> None:
        """Takes one chunk: checks it, then forwards it (waiting while the asr is behind)."""
        if self._client is None:
            self._tell(grpc.StatusCode.FAILED_PRECONDITION, NO_ASR_MESSAGE, once=True)
            return
        problem = converse_audio_problem(chunk, self._rate, self._next_offset)
        if problem:
            self._tell(grpc.StatusCode.INVALID_ARGUMENT, problem)
            return
        self._rate = self._rate or chunk.sample_rate
        self._next_offset = chunk.sample_offset + len(chunk.pcm) // 2
        self._echo.note_input(chunk.pcm, self._rate, chunk.sample_offset)
        if received_at < self._retry_at:
            return
        listener = self.listener
        if listener is not None and listener.failed:  # until the session hears of it
            return
        if listener is None or not listener.accepting:
            listener = self.listener = self._open(chunk.sample_offset)
        await listener.feed(chunk, received_at)

    @property
    def listening(self) -> bool:
        """Whether an asr stream is still under way (its finals may be to come)."""
        tasks = {*self._stopping, *((self.listener.task,) if self.listener else ())}
        return any(not task.done() for task in tasks)

    def end_input(self) -> None:
        """Ends the asr stream's input: the client sends no more audio."""
        if self.listener is not None:
            self.listener.close()

    def failed(self, listener: SpeechListener) -> None:
        """Notes that a stream failed: audio is dropped for a while, then one is reopened."""
        if listener is self.listener:
            self.listener = None
            self._retry_at = self._now() + RETRY_SECONDS

    def stop(self) -> set[asyncio.Task]:
        """Cancels the asr streams; returns their tasks."""
        if self.listener is not None:
            self._stopping.add(self.listener.cancel())
            self.listener = None
        return self._stopping

    def _open(self, base_offset: int) -> SpeechListener:
        if self.listener is not None:  # ended its input: let it deliver its finals
            task = self.listener.task
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)
        assert self._client is not None and self._rate is not None
        config = asr_pb2.TranscribeConfig(
            sample_rate=self._rate,
            language=self.settings.language,
            end_of_speech_ms=self.settings.end_of_speech_ms,
            interim_results=self.settings.interim_results,
        )
        return SpeechListener(self._client, config, base_offset, self._post)

    def _tell(self, code: grpc.StatusCode, message: str, *, once: bool = False) -> None:
        now = self._now()
        if self._told_at is not None and (once or now - self._told_at < PROBLEM_INTERVAL_SECONDS):
            return
        self._told_at = now
        self._post(VoiceProblem(code, message))
