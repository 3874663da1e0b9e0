"""The chat turns of Speak requests, kept in the conversation store.

A chat request with a conversation id reads the conversation's turns before it asks
the LLM and, when it ends, appends one turn: the question and what the avatar spoke.
A turn that ends normally is written before the summary goes out, so a store that
fails then fails the request (UNAVAILABLE naming the store). One that is interrupted
(the client cancelled, the deadline passed) or failed is still written, with the part
that was spoken, from the request's clean-up, where a failure can only be logged.
"""

from __future__ import annotations

import asyncio
import logging

from avatar_gateway.conversations import (
    ConversationStore,
    ConversationStoreError,
    ConversationTurn,
)
from avatar_gateway.plan import SpeakPlan

log = logging.getLogger(__name__)

# Longest wait for the write of an interrupted turn: the request is already over.
INTERRUPTED_WRITE_SECONDS = 5.0


class ChatTurns:
    """Reads and writes the turns of chat requests.

    Args:
        store: The conversation store.
    """

    def __init__(self, store: ConversationStore) -> None:
        self.store = store

    async def history(self, conversation_id: str) -> tuple[ConversationTurn, ...]:
        """The conversation's turns; none without an id.

        Raises:
            ConversationStoreError: The store is down.
        """
        if not conversation_id:
            return ()
        return tuple(await self.store.history(conversation_id))

    @staticmethod
    def kept(plan: SpeakPlan) -> bool:
        """Whether the request's turn joins a conversation."""
        return plan.chat and bool(plan.conversation_id)

    async def remember(self, plan: SpeakPlan, spoken_text: str) -> None:
        """Appends the turn of a request that ended normally.

        Raises:
            ConversationStoreError: The store is down.
        """
        if self.kept(plan):
            await self.store.append(plan.conversation_id, ConversationTurn(plan.text, spoken_text))

    async def remember_interrupted(self, plan: SpeakPlan, spoken_text: str) -> None:
        """Appends the turn of an interrupted or failed request: what was spoken of it.

        It never raises: the request has already ended, so a failure is only logged.
        The write is shielded from the request's own cancellation.
        """
        if not self.kept(plan):
            return
        turn = ConversationTurn(plan.text, spoken_text, interrupted=True)
        write = asyncio.ensure_future(self.store.append(plan.conversation_id, turn))
        try:
            await asyncio.wait_for(asyncio.shield(write), INTERRUPTED_WRITE_SECONDS)
        except ConversationStoreError as error:
            log.warning("an interrupted chat turn was not remembered: %s", error)
        except (TimeoutError, asyncio.CancelledError):
            # Cancelled again while waiting: the write goes on by itself.
            write.add_done_callback(_log_failure)


def _log_failure(write: asyncio.Future) -> None:
    if not write.cancelled() and write.exception() is not None:
        log.warning("an interrupted chat turn was not remembered: %s", write.exception())
