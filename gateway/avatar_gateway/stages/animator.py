"""The ``animator`` stage: each sentence animated in order, on the gateway's timeline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from avatar.animator.v1 import animator_pb2
from avatar.common.v1 import media_pb2
from avatar.gateway.v1 import gateway_pb2
from avatar_gateway.appearance import Appearance
from avatar_gateway.stages.base import Stage, StageContext, requests_until
from avatar_gateway.stages.enhancer import HIGH_QUALITY_JPEG
from avatar_gateway.stages.events import END, EndOfStream, SentenceSpeech, SpeechStarted

ClientEvent = gateway_pb2.SpeakResponse


class _Sentence:
    """One sentence being animated: where it starts and how much of it was sent."""

    __slots__ = (
        "accepted",
        "frames",
        "has_timings",
        "sample_rate",
        "sent_samples",
        "speech",
        "start",
    )

    def __init__(
        self, speech: SentenceSpeech, sample_rate: int, start: int, has_timings: bool = False
    ) -> None:
        self.speech = speech
        self.sample_rate = sample_rate
        self.has_timings = has_timings
        self.start = start
        self.sent_samples = 0
        self.frames = 0
        self.accepted = asyncio.Event()  # set by the animator's first answer


class AnimatorStage(Stage):
    """Animates each sentence with one ``Animate`` stream, in order.

    The gateway owns the output timeline (decisions record 1): audio sample offsets
    count from the start of the output, frames get their indices here, and each
    sentence's audio is padded with silence to a whole number of frames. Each audio
    chunk goes to the client before the animator gets it (decisions record 5), so time
    to first audio is the TTS latency alone.

    Args:
        context: What the request's stages work with.
        inbox: Each sentence's speech, then :data:`END`.
        to_client: Where sentence and audio events go.
        frames_out: Where frame batches go, then :data:`END`: ``to_client`` (as client
            events), or the enhancer's inbox (as batches) in high quality when the
            enhancer works on every frame.
        appearance: High quality's enhanced still of the avatar, which the frames are
            drawn from; when it carries a touch-up (a still enhanced with OpenCV) the
            animator touches up the moving regions itself and the frames go to
            ``to_client``. None: the avatar's own photo.
    """

    name = "animator"

    def __init__(
        self,
        context: StageContext,
        inbox: asyncio.Queue[SentenceSpeech | EndOfStream],
        to_client: asyncio.Queue[ClientEvent | EndOfStream],
        frames_out: asyncio.Queue,
        appearance: Appearance | None = None,
    ) -> None:
        super().__init__(context)
        self._inbox = inbox
        self._to_client = to_client
        self._frames_out = frames_out
        self._position = 0  # samples of output so far, padding included
        high_quality = context.plan.high_quality
        if not high_quality:
            appearance = None
        # The enhanced still the frames are drawn from, and the touch-up of their regions.
        self._appearance = appearance.still if appearance is not None else b""
        self._touchup = appearance.touchup if appearance is not None else None
        self._to_enhancer = high_quality and self._touchup is None

    async def run(self) -> None:
        """Animates sentences until the inbox ends, then puts :data:`END`."""
        while (speech := await self._inbox.get()) is not END:
            with self.timed():
                await self._animate(speech)
        await self._frames_out.put(END)

    async def _animate(self, speech: SentenceSpeech) -> None:
        first = await speech.parts.get()
        if not isinstance(first, SpeechStarted):
            index = speech.sentence.index
            raise RuntimeError(f"tts stream for sentence {index} did not start properly")
        measurements = self.context.measurements
        measurements.sample_rate = measurements.sample_rate or first.sample_rate
        sentence = _Sentence(speech, first.sample_rate, self._position, first.has_timings)
        await self._to_client.put(self._sentence_event(sentence))
        await self._stream(sentence)
        # Pad the sentence with silence to a whole number of frames.
        padded = round(sentence.frames * sentence.sample_rate / self.context.plan.fps)
        if padded > sentence.sent_samples:
            silence = bytes(2 * (padded - sentence.sent_samples))
            await self._emit_audio(silence, sentence)
        self._position = sentence.start + max(padded, sentence.sent_samples)
        measurements.samples = self._position
        measurements.sentences += 1
        measurements.spoken_text.append(speech.sentence.text)

    async def _stream(self, sentence: _Sentence) -> None:
        """Runs the sentence's ``Animate`` call, stamping and passing its frames on."""
        first_frame = round(sentence.start * self.context.plan.fps / sentence.sample_rate)
        call_ended = asyncio.Event()
        try:
            responses = self.context.clients.animator.animate(
                requests_until(call_ended, self._requests(sentence, first_frame)), self.timeout()
            )
            async for response in responses:
                sentence.accepted.set()
                if response.WhichOneof("event") != "frames":
                    continue
                batch = response.frames
                for frame in batch.frames:
                    frame.index = first_frame + sentence.frames
                    sentence.frames += 1
                if self._to_enhancer:
                    await self._frames_out.put(batch)
                else:
                    await self._frames_out.put(ClientEvent(frames=batch))
        finally:
            call_ended.set()

    async def _requests(
        self, sentence: _Sentence, first_frame: int
    ) -> AsyncIterator[animator_pb2.AnimateRequest]:
        yield animator_pb2.AnimateRequest(config=self._config(sentence.sample_rate, first_frame))
        # Payload only once the animator has accepted the config: a refusal then ends
        # the call before the gateway writes again, and reaches the client intact.
        await sentence.accepted.wait()
        # A voice that times its speech sends each chunk's timings after the chunk; the
        # animator gets them first, so the chunk's audio renders its frames as it comes.
        parts = sentence.speech.parts
        step = self._piece_samples(sentence.sample_rate)
        held: list[media_pb2.AudioChunk] = []
        while (part := await parts.get()) is not END:
            if isinstance(part, media_pb2.TimingTrack):
                yield animator_pb2.AnimateRequest(timings=part)
            else:
                held.append(part)
                if sentence.has_timings:
                    continue
            async for request in self._audio_requests(held, step, sentence):
                yield request
            held.clear()
        async for request in self._audio_requests(held, step, sentence):
            yield request
        yield animator_pb2.AnimateRequest(end=animator_pb2.AnimateInputEnd())

    async def _audio_requests(
        self, chunks: list[media_pb2.AudioChunk], step: int, sentence: _Sentence
    ) -> AsyncIterator[animator_pb2.AnimateRequest]:
        """The chunks' audio for the animator, each piece sent to the client first."""
        for chunk in chunks:
            for piece in _pieces(chunk, step):
                await self._emit_audio(piece.pcm, sentence)
                yield animator_pb2.AnimateRequest(audio=piece)

    def _piece_samples(self, sample_rate: int) -> int:
        """Most samples per audio message to the animator (0: chunks as TTS made them).

        The animator renders what each message allows before it sends any of it: a
        live session, which asks for small frame batches, hands the audio over a batch
        at a time, so frames come out steadily from the first on, not a chunk's worth
        at once.
        """
        plan = self.context.plan
        if not plan.frame_batch:
            return 0
        return max(1, round(plan.frame_batch * sample_rate / plan.fps))

    def _config(self, sample_rate: int, first_frame: int) -> animator_pb2.AnimateConfig:
        plan = self.context.plan
        encoding = plan.frame_encoding
        if self._to_enhancer:
            encoding = media_pb2.FRAME_ENCODING_JPEG  # RGB24 batches would exceed 1 MiB
        config = animator_pb2.AnimateConfig(
            content_hash=plan.content_hash,
            image=plan.photo,
            fps=plan.fps,
            start_frame=plan.start_frame + first_frame,
            loop_frames=plan.loop_frames,
            batch_size=plan.frame_batch,
            sample_rate=sample_rate,
            encoding=encoding,
            jpeg_quality=HIGH_QUALITY_JPEG if plan.high_quality else 85,
            motion=plan.motion,
            appearance=self._appearance,
        )
        if self._touchup is not None:
            config.touchup.CopyFrom(self._touchup)
        return config

    def _sentence_event(self, sentence: _Sentence) -> ClientEvent:
        speech = sentence.speech
        event = gateway_pb2.Sentence(
            index=speech.sentence.index,
            text=speech.sentence.text,
            start_seconds=sentence.start / sentence.sample_rate,
            from_llm=speech.sentence.from_llm,
        )
        if speech.synthesized.is_set():
            event.timings.CopyFrom(speech.timings)
            phonemes = speech.timings.phonemes
            event.duration_seconds = phonemes[-1].end_seconds if phonemes else 0.0
        return ClientEvent(sentence=event)

    async def _emit_audio(self, pcm: bytes, sentence: _Sentence) -> None:
        """Forwards audio to the client at its place on the output timeline."""
        measurements = self.context.measurements
        if measurements.first_audio_at is None:
            measurements.first_audio_at = time.perf_counter()
        chunk = media_pb2.AudioChunk(
            pcm=pcm,
            sample_rate=sentence.sample_rate,
            sample_offset=sentence.start + sentence.sent_samples,
        )
        sentence.sent_samples += len(pcm) // 2
        await self._to_client.put(ClientEvent(audio=chunk))


def _pieces(chunk: media_pb2.AudioChunk, samples: int) -> list[media_pb2.AudioChunk]:
    """The chunk cut into pieces of at most ``samples`` (the chunk itself for 0)."""
    count = len(chunk.pcm) // 2
    if not samples or count <= samples:
        return [chunk]
    return [
        media_pb2.AudioChunk(
            pcm=chunk.pcm[2 * start : 2 * (start + samples)],
            sample_rate=chunk.sample_rate,
            sample_offset=chunk.sample_offset + start,
        )
        for start in range(0, count, samples)
    ]
