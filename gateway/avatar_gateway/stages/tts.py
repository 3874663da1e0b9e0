"""The ``tts`` stage: each sentence's speech, ahead of its animation."""

from __future__ import annotations

import asyncio

from avatar.common.v1 import media_pb2
from avatar.tts.v1 import tts_pb2
from avatar_gateway.stages.base import Stage, StageContext
from avatar_gateway.stages.events import (
    END,
    EndOfStream,
    SentenceSpeech,
    SentenceText,
    SpeechPart,
    SpeechStarted,
)
from avatar_gateway.stages.lead_in import LeadInTrimmer


def synthesis_request(sentence: str, voice: str, sample_rate: int = 0) -> tts_pb2.SynthesizeRequest:
    """What the stage asks the tts service for one sentence: the first at the voice's own
    rate (0), every later one at the rate the first came at."""
    return tts_pb2.SynthesizeRequest(text=sentence, voice=voice, sample_rate=sample_rate)


class TtsStage(Stage):
    """Synthesises each sentence, passing its audio and timings on as they arrive.

    A sentence is handed to the animator before its synthesis starts, so the animator
    can begin as soon as the first audio comes, while the bounded outbox lets the next
    sentence be synthesised while this one animates. Every sentence after the first
    asks for the first one's sample rate, so the output has one rate throughout. The
    first sentence's quiet lead-in is cut short (:mod:`~avatar_gateway.stages.lead_in`):
    the request's first sound plays as soon as it can be heard.

    Args:
        context: What the request's stages work with.
        inbox: The sentences, then :data:`END`.
        outbox: Each sentence's speech as it is being synthesised, then :data:`END`.
    """

    name = "tts"

    def __init__(
        self,
        context: StageContext,
        inbox: asyncio.Queue[SentenceText | EndOfStream],
        outbox: asyncio.Queue[SentenceSpeech | EndOfStream],
    ) -> None:
        super().__init__(context)
        self._inbox = inbox
        self._outbox = outbox
        self._sample_rate = 0

    async def run(self) -> None:
        """Synthesises sentences until the inbox ends, then puts :data:`END`."""
        while (sentence := await self._inbox.get()) is not END:
            speech = SentenceSpeech(sentence)
            await self._outbox.put(speech)
            with self.timed():
                await self._synthesize(speech)
        await self._outbox.put(END)

    async def _synthesize(self, speech: SentenceSpeech) -> None:
        request = synthesis_request(
            speech.sentence.text, self.context.plan.voice, self._sample_rate
        )
        trimmer: LeadInTrimmer | None = None
        async for response in self.context.clients.tts.synthesize(request, self.timeout()):
            kind = response.WhichOneof("event")
            if kind == "audio":
                await self._pass_on(speech, trimmer, response.audio)
            elif kind == "timings":
                await self._pass_on(speech, trimmer, response.timings)
            elif kind == "started":
                rate = response.started.sample_rate
                self._sample_rate = self._sample_rate or rate
                if speech.sentence.index == 0:
                    trimmer = LeadInTrimmer(rate)
                started = SpeechStarted(sample_rate=rate, has_timings=response.started.has_timings)
                await speech.parts.put(started)
        for part in trimmer.finish() if trimmer is not None else []:
            await self._put(speech, part)
        speech.synthesized.set()
        await speech.parts.put(END)

    async def _pass_on(
        self,
        speech: SentenceSpeech,
        trimmer: LeadInTrimmer | None,
        part: media_pb2.AudioChunk | media_pb2.TimingTrack,
    ) -> None:
        for ready in trimmer.add(part) if trimmer is not None else [part]:
            await self._put(speech, ready)

    @staticmethod
    async def _put(speech: SentenceSpeech, part: SpeechPart) -> None:
        if isinstance(part, media_pb2.TimingTrack):
            speech.timings.MergeFrom(part)
        await speech.parts.put(part)
