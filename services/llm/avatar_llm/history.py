"""Bounded in-memory conversation history (no gRPC here)."""

from __future__ import annotations

from collections import OrderedDict, deque


class ConversationHistory:
    """Past turns per conversation, bounded in turns and in conversations (LRU).

    Args:
        max_turns: Question/answer pairs kept per conversation; 0 keeps none.
        max_conversations: Conversations kept; using one makes it the most recent.
    """

    def __init__(self, max_turns: int, max_conversations: int) -> None:
        self._max_messages = 2 * max_turns
        self._max_conversations = max_conversations
        self._conversations: OrderedDict[str, deque[dict[str, str]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._conversations)

    def messages(self, conversation_id: str) -> list[dict[str, str]]:
        """The conversation's past messages, oldest first (none for an empty id)."""
        turns = self._conversations.get(conversation_id) if conversation_id else None
        if turns is None:
            return []
        self._conversations.move_to_end(conversation_id)
        return list(turns)

    def add_turn(self, conversation_id: str, question: str, answer: str) -> None:
        """Remembers a question and its answer; an empty id remembers nothing."""
        if not conversation_id or self._max_messages == 0:
            return
        turns = self._conversations.get(conversation_id)
        if turns is None:
            turns = self._conversations[conversation_id] = deque(maxlen=self._max_messages)
        self._conversations.move_to_end(conversation_id)
        turns.append({"role": "user", "content": question})
        turns.append({"role": "assistant", "content": answer})
        while len(self._conversations) > self._max_conversations:
            self._conversations.popitem(last=False)
