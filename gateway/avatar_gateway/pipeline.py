"""The Speak pipeline: a chain of small async stages connected by bounded queues.

    text ─► sentences ─► synthesize ─► animate ─┬─────────────► client
    (or LLM deltas)      (tts)         (animator) └─► enhance ─► client   (high quality)

Sentence k+1 is synthesised while sentence k animates (``sentences_ahead`` jobs may
wait). Audio is forwarded to the client as the animator receives it, frames as they
come back, each with its time position in the whole output: sample offsets at the
voice's rate, frame indices at ``fps``. Each sentence's audio is padded with silence
to a whole number of frames, so audio and video stay in sync across sentences.
Every stage times itself; a failure in any stage, a client cancel or the deadline
cancels all of them, and with them every downstream call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from avatar.animator.v1 import animator_pb2
from avatar.common.v1 import media_pb2
from avatar.enhancer.v1 import enhancer_pb2
from avatar.gateway.v1 import gateway_pb2
from avatar.llm.v1 import llm_pb2
from avatar.tts.v1 import tts_pb2
from avatar_gateway.clients import AnimatorClient, EnhancerClient, LlmClient, TtsClient
from avatar_gateway.sentences import SentenceBuffer, split_sentences

_END = object()


@dataclass(frozen=True, slots=True)
class SpeakPlan:
    """A validated Speak request, ready to run.

    Attributes:
        text: The text to speak, or the message to answer in chat mode.
        chat: Whether the LLM answers ``text`` first.
        high_quality: Whether frames pass through the enhancer.
        voice: TTS voice; empty for the default.
        conversation_id: LLM conversation; empty keeps no history.
        content_hash: The avatar photo's content hash.
        photo: The avatar photo, for an animator that has not cached it.
        fps: Frames per second.
        frame_encoding: Encoding of the frames sent to the client.
        motion: Idle motion and articulation settings.
    """

    text: str
    chat: bool
    high_quality: bool
    voice: str
    conversation_id: str
    content_hash: str
    photo: bytes
    fps: float
    frame_encoding: int
    motion: media_pb2.MotionSettings


@dataclass(frozen=True, slots=True)
class Clients:
    """The downstream services."""

    llm: LlmClient
    tts: TtsClient
    animator: AnimatorClient
    enhancer: EnhancerClient


@dataclass(slots=True)
class SentenceJob:
    """One sentence on its way from TTS to the animator.

    Attributes:
        index: Position of the sentence in the request.
        text: The sentence.
        from_llm: Whether the LLM wrote it.
        events: TTS events in order (started, audio, timings), then ``_END``.
        timings: Every timing piece received so far.
        synthesized: Set when TTS has sent everything.
    """

    index: int
    text: str
    from_llm: bool
    events: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=256))
    timings: media_pb2.TimingTrack = field(default_factory=media_pb2.TimingTrack)
    synthesized: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(slots=True)
class SpeakStats:
    """What the pipeline measured; read by the servicer for the summary."""

    started_at: float = field(default_factory=time.perf_counter)
    first_audio_at: float | None = None
    first_frame_at: float | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    sample_rate: int = 0
    samples: int = 0
    frames: int = 0
    sentences: int = 0
    spoken_text: list[str] = field(default_factory=list)

    def add_stage(self, stage: str, seconds: float) -> None:
        """Adds busy time to a stage."""
        self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + seconds


class SpeakPipeline:
    """Runs one Speak request through the stages.

    Args:
        clients: The downstream services.
        plan: The validated request.
        time_remaining: Seconds left until the client's deadline (None: no deadline).
        sentences_ahead: Sentences synthesised ahead of the one animating.
    """

    def __init__(
        self,
        clients: Clients,
        plan: SpeakPlan,
        time_remaining: Callable[[], float | None],
        sentences_ahead: int = 1,
    ) -> None:
        self.clients = clients
        self.plan = plan
        self.stats = SpeakStats()
        self._time_remaining = time_remaining
        self._sentences: asyncio.Queue = asyncio.Queue(maxsize=8)
        self._jobs: asyncio.Queue = asyncio.Queue(maxsize=sentences_ahead)
        self._to_enhance: asyncio.Queue = asyncio.Queue(maxsize=8)
        self._out: asyncio.Queue = asyncio.Queue(maxsize=32)

    async def events(self) -> AsyncIterator[gateway_pb2.SpeakResponse]:
        """Yields the client events (without sequence numbers) until the media ends."""
        stages = [self._sentence_stage(), self._synthesize_stage(), self._animate_stage()]
        if self.plan.high_quality:
            stages.append(self._enhance_stage())
        tasks = [asyncio.create_task(stage) for stage in stages]
        failure: asyncio.Future = asyncio.get_running_loop().create_future()
        for task in tasks:
            task.add_done_callback(lambda done: _report_failure(done, failure))
        try:
            while True:
                event = await _next_or_fail(self._out, failure)
                if event is _END:
                    return
                yield event
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if not failure.done():
                failure.cancel()
            elif not failure.cancelled():
                failure.exception()  # retrieved: the client already got it, or left

    def _timeout(self) -> float | None:
        return self._time_remaining()

    async def _sentence_stage(self) -> None:
        """Puts the sentences to speak: split from the text, or from the LLM's answer."""
        if not self.plan.chat:
            for text in split_sentences(self.plan.text):
                await self._sentences.put((text, False))
            await self._sentences.put(_END)
            return
        started = time.perf_counter()
        buffer = SentenceBuffer()
        request = llm_pb2.ChatRequest(
            conversation_id=self.plan.conversation_id, message=self.plan.text
        )
        async for response in self.clients.llm.chat(request, self._timeout()):
            if response.WhichOneof("event") == "delta":
                for sentence in buffer.push(response.delta.text):
                    await self._sentences.put((sentence, True))
        for sentence in buffer.flush():
            await self._sentences.put((sentence, True))
        self.stats.add_stage("llm", time.perf_counter() - started)
        await self._sentences.put(_END)

    async def _synthesize_stage(self) -> None:
        """Synthesises each sentence into its job's event queue, ahead of animation."""
        index = 0
        while (item := await self._sentences.get()) is not _END:
            text, from_llm = item
            job = SentenceJob(index=index, text=text, from_llm=from_llm)
            await self._jobs.put(job)
            started = time.perf_counter()
            request = tts_pb2.SynthesizeRequest(
                text=text, voice=self.plan.voice, sample_rate=self.stats.sample_rate
            )
            async for response in self.clients.tts.synthesize(request, self._timeout()):
                kind = response.WhichOneof("event")
                if kind == "timings":
                    job.timings.MergeFrom(response.timings)
                if kind != "end":
                    await job.events.put(response)
            job.synthesized.set()
            await job.events.put(_END)
            self.stats.add_stage("tts", time.perf_counter() - started)
            index += 1
        await self._jobs.put(_END)

    async def _animate_stage(self) -> None:
        """Animates each sentence in order, forwarding its audio to the client."""
        sink = self._to_enhance if self.plan.high_quality else self._out
        while (job := await self._jobs.get()) is not _END:
            started = time.perf_counter()
            await self._animate_sentence(job, sink)
            self.stats.add_stage("animate", time.perf_counter() - started)
        await sink.put(_END)

    async def _animate_sentence(self, job: SentenceJob, sink: asyncio.Queue) -> None:
        first = await job.events.get()
        if first is _END or first.WhichOneof("event") != "started":
            raise RuntimeError(f"tts stream for sentence {job.index} did not start properly")
        sample_rate = first.started.sample_rate
        self.stats.sample_rate = self.stats.sample_rate or sample_rate
        sentence_start = self.stats.samples
        await self._out.put(self._sentence_event(job, sentence_start / sample_rate))
        sent_samples = 0
        accepted = asyncio.Event()  # set by the animator's first answer

        async def requests() -> AsyncIterator[animator_pb2.AnimateRequest]:
            nonlocal sent_samples
            yield animator_pb2.AnimateRequest(config=self._animate_config(sample_rate))
            # Payload only once the animator has accepted the config: a refusal then ends
            # the call before the gateway writes again, and reaches the client intact.
            await accepted.wait()
            while (event := await job.events.get()) is not _END:
                if event.WhichOneof("event") == "timings":
                    yield animator_pb2.AnimateRequest(timings=event.timings)
                    continue
                chunk = event.audio
                await self._emit_audio(chunk.pcm, sample_rate, sentence_start + sent_samples)
                sent_samples += len(chunk.pcm) // 2
                yield animator_pb2.AnimateRequest(audio=chunk)
            yield animator_pb2.AnimateRequest(end=animator_pb2.AnimateInputEnd())

        frames = 0
        first_frame = round(sentence_start * self.plan.fps / sample_rate)
        call_ended = asyncio.Event()
        try:
            responses = self.clients.animator.animate(
                _until(call_ended, requests()), self._timeout()
            )
            async for response in responses:
                accepted.set()
                if response.WhichOneof("event") == "frames":
                    # The gateway owns the output timeline: stamp indices in it.
                    for frame in response.frames.frames:
                        frame.index = first_frame + frames
                        frames += 1
                    if self.plan.high_quality:
                        await sink.put(response.frames)
                    else:
                        await sink.put(gateway_pb2.SpeakResponse(frames=response.frames))
        finally:
            call_ended.set()
        # Pad the sentence with silence to a whole number of frames.
        padded = round(frames * sample_rate / self.plan.fps)
        if padded > sent_samples:
            silence = bytes(2 * (padded - sent_samples))
            await self._emit_audio(silence, sample_rate, sentence_start + sent_samples)
        self.stats.samples = sentence_start + max(padded, sent_samples)
        self.stats.sentences += 1
        self.stats.spoken_text.append(job.text)

    def _animate_config(self, sample_rate: int) -> animator_pb2.AnimateConfig:
        encoding = self.plan.frame_encoding
        if self.plan.high_quality:
            encoding = media_pb2.FRAME_ENCODING_JPEG  # RGB24 batches would exceed 1 MiB
        return animator_pb2.AnimateConfig(
            content_hash=self.plan.content_hash,
            image=self.plan.photo,
            fps=self.plan.fps,
            start_frame=round(self.stats.samples * self.plan.fps / sample_rate),
            sample_rate=sample_rate,
            encoding=encoding,
            jpeg_quality=95 if self.plan.high_quality else 85,
            motion=self.plan.motion,
        )

    def _sentence_event(self, job: SentenceJob, start_seconds: float) -> gateway_pb2.SpeakResponse:
        sentence = gateway_pb2.Sentence(
            index=job.index, text=job.text, start_seconds=start_seconds, from_llm=job.from_llm
        )
        if job.synthesized.is_set():
            sentence.timings.CopyFrom(job.timings)
            sentence.duration_seconds = (
                job.timings.phonemes[-1].end_seconds if job.timings.phonemes else 0.0
            )
        return gateway_pb2.SpeakResponse(sentence=sentence)

    async def _emit_audio(self, pcm: bytes, sample_rate: int, offset: int) -> None:
        if self.stats.first_audio_at is None:
            self.stats.first_audio_at = time.perf_counter()
        chunk = media_pb2.AudioChunk(pcm=pcm, sample_rate=sample_rate, sample_offset=offset)
        await self._out.put(gateway_pb2.SpeakResponse(audio=chunk))

    async def _enhance_stage(self) -> None:
        """Passes every frame batch through the enhancer, in order."""
        started = time.perf_counter()

        async def requests() -> AsyncIterator[enhancer_pb2.EnhanceRequest]:
            yield enhancer_pb2.EnhanceRequest(
                config=enhancer_pb2.EnhanceConfig(encoding=self.plan.frame_encoding)
            )
            while (batch := await self._to_enhance.get()) is not _END:
                yield enhancer_pb2.EnhanceRequest(frames=batch)
            yield enhancer_pb2.EnhanceRequest(end=enhancer_pb2.EnhanceInputEnd())

        call_ended = asyncio.Event()
        try:
            responses = self.clients.enhancer.enhance(
                _until(call_ended, requests()), self._timeout()
            )
            async for response in responses:
                if response.WhichOneof("event") == "frames":
                    await self._out.put(gateway_pb2.SpeakResponse(frames=response.frames))
        finally:
            call_ended.set()
        self.stats.add_stage("enhance", time.perf_counter() - started)
        await self._out.put(_END)


class _CallEnded(Exception):
    """Raised into gRPC's reader of a request iterator: it then cancels the call."""


async def _until(stop: asyncio.Event, requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """Yields ``requests`` until ``stop`` is set, then makes gRPC cancel the call.

    gRPC reads a call's request iterator in a task of its own and, once the call has
    ended with an error (a deadline, a downstream failure), no longer cancels that task:
    a generator waiting on a pipeline queue would keep it pending forever. Setting
    ``stop`` when the stage that reads the call ends interrupts whatever the generator
    waits for. Simply ending the iterator would half-close the call, which a downstream
    service would take for a stream closed without its end message; raising instead
    makes gRPC cancel it, so the service sees CANCELLED.
    """
    iterator = aiter(requests)
    stopped = asyncio.ensure_future(stop.wait())
    step: asyncio.Future | None = None
    try:
        while not stop.is_set():
            step = asyncio.ensure_future(anext(iterator, _END))
            await asyncio.wait({step, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not step.done():
                break
            item = step.result()
            if item is _END:
                return
            yield item
        raise _CallEnded("the pipeline stage reading this call has ended")
    finally:
        stopped.cancel()
        if step is not None and not step.done():
            step.cancel()
            await asyncio.gather(step, return_exceptions=True)
        elif hasattr(iterator, "aclose"):
            await iterator.aclose()


def _report_failure(task: asyncio.Task, failure: asyncio.Future) -> None:
    if task.cancelled() or failure.done():
        return
    error = task.exception()
    if error is not None:
        failure.set_exception(error)


async def _next_or_fail(queue: asyncio.Queue, failure: asyncio.Future):
    """Returns the next queue item, or raises the first stage failure."""
    if not queue.empty():
        return queue.get_nowait()
    getter = asyncio.ensure_future(queue.get())
    try:
        await asyncio.wait({getter, failure}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not getter.done():
            getter.cancel()
    if getter.done() and not getter.cancelled():
        return getter.result()
    raise failure.exception()
