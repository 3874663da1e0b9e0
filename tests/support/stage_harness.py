"""Drives one Speak stage alone: a capturing source feeds it, sinks collect what it puts out.

The downstream clients are fakes with the real clients' call signatures: async
generators that yield real proto messages, record what they were asked and with which
timeout, and can fail with the :class:`StageError` the real client would raise, or hold
a call open until the test cancels it. Everything a sink receives and every request a
fake receives is written, in order, to one journal, so a test can say what happened
before what.

    harness = StageHarness(tts=FakeTts())
    outbox = harness.sink("speech")
    await harness.run(TtsStage(harness.context, harness.source([sentence]), outbox), outbox)
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import grpc
import numpy as np

from avatar.animator.v1 import animator_pb2
from avatar.common.v1 import media_pb2
from avatar.enhancer.v1 import enhancer_pb2
from avatar.llm.v1 import llm_pb2
from avatar.tts.v1 import tts_pb2
from avatar_gateway.clients import (
    AnimatorClient,
    EnhancerClient,
    LlmClient,
    StageError,
    TtsClient,
)
from avatar_gateway.measurements import SpeakMeasurements
from avatar_gateway.plan import Clients, SpeakPlan
from avatar_gateway.stages.base import Stage, StageContext
from avatar_gateway.stages.events import END, SentenceSpeech, SentenceText, SpeechStarted

RATE = 16_000
FPS = 25.0
PLAN = SpeakPlan(
    text="Hello there. How are you today?",
    chat=False,
    high_quality=False,
    voice="",
    conversation_id="",
    content_hash="c0ffee",
    photo=b"photo bytes",
    fps=FPS,
    frame_encoding=media_pb2.FRAME_ENCODING_JPEG,
    motion=media_pb2.MotionSettings(),
)

Journal = list[tuple[str, Any]]


class CapturingSource(asyncio.Queue):
    """A stage's inbox, filled by the test: its items, then END; remembers what was taken.

    Args:
        items: What the stage will read, in order.
        end: Whether END follows the items (False leaves the stage waiting for more).
    """

    def __init__(self, items: Iterable[Any] = (), *, end: bool = True) -> None:
        super().__init__()
        self.taken: list[Any] = []
        for item in items:
            self.put_nowait(item)
        if end:
            self.put_nowait(END)

    async def get(self) -> Any:
        """Returns the next item, remembering it."""
        item = await super().get()
        self.taken.append(item)
        return item


class CollectingSink(asyncio.Queue):
    """A stage's outbox: keeps and journals each item as the stage puts it.

    Args:
        name: The sink's name in the journal.
        journal: The run's journal.
        maxsize: Bound of the queue (0: none), to let a test hold a stage back.

    Attributes:
        items: Everything put so far, END excluded.
        ended: Whether END was put.
    """

    def __init__(self, name: str, journal: Journal, maxsize: int = 0) -> None:
        super().__init__(maxsize)
        self.name = name
        self.items: list[Any] = []
        self.ended = False
        self._journal = journal

    async def put(self, item: Any) -> None:
        """Keeps and journals the item, then queues it (waiting while the queue is full)."""
        self._journal.append((self.name, item))
        if item is END:
            self.ended = True
        else:
            self.items.append(item)
        await super().put(item)

    async def collect(self) -> None:
        """Takes items off the queue until END, as the next stage would."""
        while await self.get() is not END:
            pass


class _FakeCall:
    """What every fake client shares: its records, a failure to raise, a call to hold.

    Args:
        fail_after: Responses sent before the call fails (None: it never fails).
        code: The status code of that failure.
        hold_after: Responses sent before the call waits until cancelled (None: never).
    """

    stage = ""

    def __init__(
        self,
        *,
        fail_after: int | None = None,
        code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE,
        hold_after: int | None = None,
    ) -> None:
        self.fail_after = fail_after
        self.code = code
        self.hold_after = hold_after
        self.journal: Journal = []
        self.requests: list[Any] = []
        self.timeouts: list[float | None] = []
        self.calls = 0
        self.cancelled = 0
        self.held = asyncio.Event()
        self._sent = 0

    def _begin(self, timeout: float | None) -> None:
        self.calls += 1
        self.timeouts.append(timeout)

    def _received(self, request: Any) -> None:
        self.requests.append(request)
        self.journal.append((self.stage, request))

    async def _respond(self, response: Any) -> Any:
        """Returns ``response`` to send, after failing or holding when due."""
        if self.fail_after is not None and self._sent >= self.fail_after:
            raise StageError(self.stage, self.code, f"{self.stage} went away")
        if self.hold_after is not None and self._sent >= self.hold_after:
            self.held.set()
            await asyncio.Event().wait()
        self._sent += 1
        return response

    @contextlib.contextmanager
    def _call(self) -> Any:
        """Counts a call that ends by cancellation (the stage was cancelled)."""
        try:
            yield
        except (asyncio.CancelledError, GeneratorExit):
            self.cancelled += 1
            raise


class FakeLlm(_FakeCall):
    """The llm service answering every message with ``deltas``."""

    stage = LlmClient.stage

    def __init__(self, deltas: Iterable[str] = ("Fine",), **options: Any) -> None:
        super().__init__(**options)
        self.deltas = list(deltas)

    async def chat(
        self, request: llm_pb2.ChatRequest, timeout: float | None
    ) -> AsyncIterator[llm_pb2.ChatResponse]:
        """Streams started, one delta per item of ``deltas``, then end."""
        self._begin(timeout)
        self._received(request)
        with self._call():
            yield await self._respond(llm_pb2.ChatResponse(started=llm_pb2.ChatStarted()))
            for text in self.deltas:
                yield await self._respond(llm_pb2.ChatResponse(delta=llm_pb2.ChatDelta(text=text)))
            yield await self._respond(llm_pb2.ChatResponse(end=llm_pb2.ChatEnd()))


def samples_of(text: str) -> int:
    """The fake voice's length of ``text``: 0.2 s per word at :data:`RATE`, plus 0.01 s."""
    return len(text.split()) * RATE // 5 + RATE // 100


class FakeTts(_FakeCall):
    """The tts service: :func:`samples_of` samples of sound in chunks of ``chunk_samples``.

    Each utterance is started, its audio chunks, one timing track (a phoneme per word),
    then end. The sound is a square wave of :data:`FAKE_VOICE_AMPLITUDE`, after
    ``lead_in_samples`` of silence (none by default: the sound starts at once).
    """

    stage = TtsClient.stage

    def __init__(
        self,
        *,
        sample_rate: int = RATE,
        chunk_samples: int = 1600,
        lead_in_samples: int = 0,
        **options: Any,
    ):
        super().__init__(**options)
        self.sample_rate = sample_rate
        self.chunk_samples = chunk_samples
        self.lead_in_samples = lead_in_samples

    async def synthesize(
        self, request: tts_pb2.SynthesizeRequest, timeout: float | None
    ) -> AsyncIterator[tts_pb2.SynthesizeResponse]:
        """Streams one utterance of ``request.text``."""
        self._begin(timeout)
        self._received(request)
        rate = request.sample_rate or self.sample_rate
        total = samples_of(request.text) * rate // RATE
        with self._call():
            started = tts_pb2.SynthesisStarted(sample_rate=rate)
            yield await self._respond(tts_pb2.SynthesizeResponse(started=started))
            for offset in range(0, total, self.chunk_samples):
                samples = min(self.chunk_samples, total - offset)
                pcm = fake_voice(offset, samples, self.lead_in_samples)
                chunk = media_pb2.AudioChunk(pcm=pcm, sample_rate=rate, sample_offset=offset)
                yield await self._respond(tts_pb2.SynthesizeResponse(audio=chunk))
            timings = timing_track(request.text, total / rate)
            yield await self._respond(tts_pb2.SynthesizeResponse(timings=timings))
            yield await self._respond(tts_pb2.SynthesizeResponse(end=tts_pb2.SynthesisEnd()))


FAKE_VOICE_AMPLITUDE = 2000


def fake_voice(offset: int, samples: int, lead_in_samples: int = 0) -> bytes:
    """The fake voice's samples ``[offset, offset + samples)``: silence up to
    ``lead_in_samples``, then a square wave of :data:`FAKE_VOICE_AMPLITUDE`."""
    positions = np.arange(offset, offset + samples)
    wave = np.where(positions % 2 == 0, FAKE_VOICE_AMPLITUDE, -FAKE_VOICE_AMPLITUDE)
    wave[positions < lead_in_samples] = 0
    return wave.astype("<i2").tobytes()


def timing_track(text: str, seconds: float) -> media_pb2.TimingTrack:
    """One phoneme per word of ``text``, sharing ``seconds`` equally."""
    words = text.split() or [""]
    step = seconds / len(words)
    return media_pb2.TimingTrack(
        phonemes=[
            media_pb2.Phoneme(symbol="a", start_seconds=i * step, end_seconds=(i + 1) * step)
            for i in range(len(words))
        ]
    )


def frame(index: int = 0, data: bytes = b"frame") -> media_pb2.Frame:
    """A frame with ``data`` as its (fake) JPEG bytes."""
    return media_pb2.Frame(
        index=index, data=data, width=4, height=4, encoding=media_pb2.FRAME_ENCODING_JPEG
    )


class FakeAnimator(_FakeCall):
    """The animator service: frames for the audio so far, whole frames at the end.

    Like the real one it answers the config with started, sends a batch after each audio
    chunk for the frames that chunk completed, and at the end rounds the sentence up to
    a whole frame. Its frames carry index 0: the gateway stamps the real ones. A fake
    with ``refuse=True`` fails right after the config, as for a bad setting.
    """

    stage = AnimatorClient.stage

    def __init__(self, *, refuse: bool = False, **options: Any) -> None:
        super().__init__(**options)
        self.refuse = refuse
        self.configs: list[animator_pb2.AnimateConfig] = []

    async def animate(
        self, requests: AsyncIterator[animator_pb2.AnimateRequest], timeout: float | None
    ) -> AsyncIterator[animator_pb2.AnimateResponse]:
        """Reads the config, then the payload, answering with frame batches."""
        self._begin(timeout)
        iterator = aiter(requests)
        try:
            with self._call():
                config = (await anext(iterator)).config
                self._received(config)
                self.configs.append(config)
                if self.refuse:
                    raise StageError(self.stage, grpc.StatusCode.INVALID_ARGUMENT, "bad motion")
                yield await self._respond(
                    animator_pb2.AnimateResponse(started=animator_pb2.AnimateStarted())
                )
                async for response in self._frames(iterator, config):
                    yield await self._respond(response)
        finally:
            with contextlib.suppress(RuntimeError):
                await iterator.aclose()

    async def _frames(
        self, iterator: AsyncIterator[animator_pb2.AnimateRequest], config: Any
    ) -> AsyncIterator[animator_pb2.AnimateResponse]:
        samples = sent = 0
        async for request in iterator:
            kind = request.WhichOneof("message")
            self._received(getattr(request, kind))
            if kind == "audio":
                samples += len(request.audio.pcm) // 2
                due = math.floor(samples * config.fps / config.sample_rate)
            elif kind == "end":
                due = math.ceil(samples * config.fps / config.sample_rate)
            else:
                continue
            if due > sent:
                batch = media_pb2.FrameBatch(frames=[frame() for _ in range(due - sent)])
                sent = due
                yield animator_pb2.AnimateResponse(frames=batch)
            if kind == "end":
                return


class FakeEnhancer(_FakeCall):
    """The enhancer service: each frame comes back with ``b"+enhanced"`` appended."""

    stage = EnhancerClient.stage

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.configs: list[enhancer_pb2.EnhanceConfig] = []

    async def enhance(
        self, requests: AsyncIterator[enhancer_pb2.EnhanceRequest], timeout: float | None
    ) -> AsyncIterator[enhancer_pb2.EnhanceResponse]:
        """Reads the config, then answers every batch with its enhanced copy."""
        self._begin(timeout)
        iterator = aiter(requests)
        try:
            with self._call():
                config = (await anext(iterator)).config
                self._received(config)
                self.configs.append(config)
                yield await self._respond(
                    enhancer_pb2.EnhanceResponse(started=enhancer_pb2.EnhanceStarted())
                )
                async for request in iterator:
                    self._received(request)
                    if request.WhichOneof("message") != "frames":
                        break
                    batch = media_pb2.FrameBatch()
                    for item in request.frames.frames:
                        batch.frames.append(item)
                        batch.frames[-1].data = item.data + b"+enhanced"
                    yield await self._respond(enhancer_pb2.EnhanceResponse(frames=batch))
                yield await self._respond(
                    enhancer_pb2.EnhanceResponse(end=enhancer_pb2.EnhanceEnd())
                )
        finally:
            with contextlib.suppress(RuntimeError):
                await iterator.aclose()


def sentence_speech(
    index: int, text: str, *, sample_rate: int = RATE, chunks: Iterable[int] = (8000,)
) -> SentenceSpeech:
    """A sentence TTS has fully synthesised: started, audio chunks of ``chunks`` samples,
    its timings, END."""
    speech = SentenceSpeech(SentenceText(index=index, text=text, from_llm=False))
    speech.parts.put_nowait(SpeechStarted(sample_rate=sample_rate))
    offset = 0
    for samples in chunks:
        speech.parts.put_nowait(
            media_pb2.AudioChunk(
                pcm=bytes(2 * samples), sample_rate=sample_rate, sample_offset=offset
            )
        )
        offset += samples
    speech.timings.MergeFrom(timing_track(text, offset / sample_rate))
    speech.parts.put_nowait(speech.timings)
    speech.synthesized.set()
    speech.parts.put_nowait(END)
    return speech


def drain(speech: SentenceSpeech) -> list[Any]:
    """Every part a finished sentence holds, END excluded."""
    parts = []
    while (part := speech.parts.get_nowait()) is not END:
        parts.append(part)
    return parts


@dataclass
class StageHarness:
    """One request's context, with fake downstream clients, for driving stages alone.

    Attributes:
        plan: The request (:data:`PLAN` with ``plan_changes`` applied).
        llm, tts, animator, enhancer: The fake clients.
        deadline: What ``time_remaining`` answers: the timeout the fakes should see.
        journal: Sink puts and fake requests, in the order they happened.
    """

    llm: FakeLlm = field(default_factory=FakeLlm)
    tts: FakeTts = field(default_factory=FakeTts)
    animator: FakeAnimator = field(default_factory=FakeAnimator)
    enhancer: FakeEnhancer = field(default_factory=FakeEnhancer)
    deadline: float | None = 30.0
    plan_changes: dict[str, Any] = field(default_factory=dict)
    journal: Journal = field(default_factory=list)

    def __post_init__(self) -> None:
        self.plan = replace(PLAN, **self.plan_changes)
        self.measurements = SpeakMeasurements()
        for fake in (self.llm, self.tts, self.animator, self.enhancer):
            fake.journal = self.journal
        clients = Clients(
            llm=self.llm, tts=self.tts, animator=self.animator, enhancer=self.enhancer
        )
        self.clients = clients
        self.context = StageContext(self.plan, clients, self.measurements, lambda: self.deadline)

    def source(self, items: Iterable[Any] = (), *, end: bool = True) -> CapturingSource:
        """A source holding ``items`` (then END, unless ``end`` is False)."""
        return CapturingSource(items, end=end)

    def sink(self, name: str = "out", maxsize: int = 0) -> CollectingSink:
        """A sink that journals under ``name``."""
        return CollectingSink(name, self.journal, maxsize)

    async def run(self, stage: Stage, *sinks: CollectingSink, timeout: float = 10.0) -> None:
        """Runs ``stage`` to its end while ``sinks`` collect; raises what the stage raised."""
        collectors = [asyncio.create_task(sink.collect()) for sink in dict.fromkeys(sinks)]
        task = stage.start()
        try:
            async with asyncio.timeout(timeout):
                await task
                await asyncio.gather(*collectors)
        finally:
            for pending in (task, *collectors):
                pending.cancel()
            await asyncio.gather(task, *collectors, return_exceptions=True)

    async def start(self, stage: Stage, *sinks: CollectingSink) -> StageRun:
        """Starts ``stage`` and the sinks' collectors, for a test that stops it itself."""
        collectors = [asyncio.create_task(sink.collect()) for sink in dict.fromkeys(sinks)]
        return StageRun(stage, stage.start(), collectors)


@dataclass
class StageRun:
    """A stage started by :meth:`StageHarness.start`."""

    stage: Stage
    task: asyncio.Task
    collectors: list[asyncio.Task]

    async def cancel(self, timeout: float = 2.0) -> None:
        """Cancels the stage and waits (at most ``timeout``) until its task has ended."""
        self.stage.cancel()
        async with asyncio.timeout(timeout):
            await asyncio.gather(self.task, return_exceptions=True)
        for collector in self.collectors:
            collector.cancel()
        await asyncio.gather(*self.collectors, return_exceptions=True)


async def wait_for(event: asyncio.Event, timeout: float = 5.0) -> None:
    """Waits for ``event`` at most ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        await event.wait()
