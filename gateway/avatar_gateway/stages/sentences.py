"""The ``sentences`` stage: the sentences to speak, from the text or the LLM's answer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from avatar.llm.v1 import llm_pb2
from avatar_gateway.conversations import ConversationTurn
from avatar_gateway.sentences import SentenceBuffer, split_sentences
from avatar_gateway.stages.base import Stage, StageContext
from avatar_gateway.stages.events import END, EndOfStream, SentenceText


class SentenceStage(Stage):
    """Splits the text into sentences or, in chat mode, cuts the LLM's streamed answer.

    In chat mode each sentence goes on as soon as the LLM has finished it, so speech
    starts while the answer is still being written. The llm service keeps no state: the
    request carries the conversation's earlier turns from the plan. Only chat mode calls a service:
    the stage's busy time is the llm call's, and plain text records none.

    Args:
        context: What the request's stages work with.
        outbox: Where the sentences go, then :data:`END`.
    """

    name = "llm"

    def __init__(
        self, context: StageContext, outbox: asyncio.Queue[SentenceText | EndOfStream]
    ) -> None:
        super().__init__(context)
        self._outbox = outbox
        self._count = 0

    async def run(self) -> None:
        """Puts every sentence, then :data:`END`."""
        plan = self.context.plan
        if plan.chat:
            with self.timed():
                await self._cut_answer()
        else:
            for text in split_sentences(plan.text):
                await self._put(text, from_llm=False)
        await self._outbox.put(END)

    async def _cut_answer(self) -> None:
        plan = self.context.plan
        request = llm_pb2.ChatRequest(message=plan.text, history=chat_history(plan.history))
        buffer = SentenceBuffer()
        async for response in self.context.clients.llm.chat(request, self.timeout()):
            if response.WhichOneof("event") == "delta":
                for sentence in buffer.push(response.delta.text):
                    await self._put(sentence, from_llm=True)
        for sentence in buffer.flush():
            await self._put(sentence, from_llm=True)

    async def _put(self, text: str, *, from_llm: bool) -> None:
        await self._outbox.put(SentenceText(index=self._count, text=text, from_llm=from_llm))
        self._count += 1


def chat_history(turns: Iterable[ConversationTurn]) -> list[llm_pb2.ChatMessage]:
    """The llm service's history of stored turns: each question, then what was spoken.

    A side that said nothing (an answer interrupted before its first word, a turn the
    avatar spoke unasked) has no message.
    """
    messages = []
    for turn in turns:
        for role, text in (
            (llm_pb2.CHAT_ROLE_USER, turn.user_text),
            (llm_pb2.CHAT_ROLE_ASSISTANT, turn.spoken_text),
        ):
            if text.strip():
                messages.append(llm_pb2.ChatMessage(role=role, text=text))
    return messages
