"""The ``tts`` stage: each sentence's speech, ahead of its animation."""

from __future__ import annotations

import asyncio

from avatar.tts.v1 import tts_pb2
from avatar_gateway.stages.base import Stage, StageContext
from avatar_gateway.stages.events import (
    END,
    EndOfStream,
    SentenceSpeech,
    SentenceText,
    SpeechStarted,
)


class TtsStage(Stage):
    """Synthesises each sentence, passing its audio and timings on as they arrive.

    A sentence is handed to the animator before its synthesis starts, so the animator
    can begin as soon as the first audio comes, while the bounded outbox lets the next
    sentence be synthesised while this one animates. Every sentence after the first
    asks for the first one's sample rate, so the output has one rate throughout.

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
        request = tts_pb2.SynthesizeRequest(
            text=speech.sentence.text, voice=self.context.plan.voice, sample_rate=self._sample_rate
        )
        parts = speech.parts
        async for response in self.context.clients.tts.synthesize(request, self.timeout()):
            kind = response.WhichOneof("event")
            if kind == "audio":
                await parts.put(response.audio)
            elif kind == "timings":
                speech.timings.MergeFrom(response.timings)
                await parts.put(response.timings)
            elif kind == "started":
                rate = response.started.sample_rate
                self._sample_rate = self._sample_rate or rate
                await parts.put(SpeechStarted(sample_rate=rate))
        speech.synthesized.set()
        await parts.put(END)
