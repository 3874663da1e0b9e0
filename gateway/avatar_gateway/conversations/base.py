"""What a conversation store keeps and the interface every store has (no gRPC here).

A conversation is a list of turns under the caller's conversation id. A turn is what
the user said and what the avatar actually said back: after an interrupt or a failure
only the part it spoke, never what the LLM had planned. Stores keep the last
``max_turns`` turns of each conversation and forget a conversation that has been idle
for ``idle_seconds``; each :meth:`ConversationStore.append` is atomic, so a reader on
another gateway replica sees a turn whole or not at all.

``Speak`` in chat mode reads the history before it asks the LLM and appends one turn
when it ends. A live session (``Converse``) uses the same calls: it reads the history
at the start of each turn (another session, on another replica, may have added to the
conversation meanwhile) and appends each turn as it ends or is interrupted. A turn the
avatar speaks on its own (no question) has an empty ``user_text``.
"""

from __future__ import annotations

import abc
import json
import time
from dataclasses import dataclass, field
from typing import Any

MAX_TURN_TEXT_CHARS = 16_000
"""Longest text a turn keeps of either side: what the llm service accepts as history."""


class ConversationStoreError(Exception):
    """The conversation store cannot be used now (down, unreachable, refusing writes).

    Attributes:
        store: What failed, as a caller may be told (``redis at 10.0.0.5:6379``); never a
            password or a file-system path.
    """

    def __init__(self, store: str, problem: str) -> None:
        super().__init__(f"conversation store unavailable: {store}: {problem}")
        self.store = store


@dataclass(frozen=True, slots=True)
class ConversationTurn:
    """One exchange of a conversation.

    Attributes:
        user_text: What the user said; empty for a turn the avatar spoke on its own.
        spoken_text: What the avatar said, as far as it got.
        interrupted: Whether the avatar stopped before the end of what it meant to say.
        unix_seconds: When the turn ended.
    """

    user_text: str
    spoken_text: str
    interrupted: bool = False
    unix_seconds: float = field(default_factory=time.time)

    def to_json(self) -> str:
        """The turn as the stores keep it, texts cut to :data:`MAX_TURN_TEXT_CHARS`."""
        return json.dumps(
            {
                "user": self.user_text[:MAX_TURN_TEXT_CHARS],
                "spoken": self.spoken_text[:MAX_TURN_TEXT_CHARS],
                "interrupted": self.interrupted,
                "at": self.unix_seconds,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> ConversationTurn:
        """Reads a stored turn.

        Raises:
            ValueError: The text is not a stored turn.
        """
        data: Any = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("a stored turn is a JSON object")
        user, spoken = data.get("user"), data.get("spoken")
        at = data.get("at")
        if not isinstance(user, str) or not isinstance(spoken, str):
            raise ValueError("a stored turn has the texts of both sides")
        if not isinstance(at, int | float):
            raise ValueError("a stored turn has its time")
        return cls(user, spoken, bool(data.get("interrupted")), float(at))


@dataclass(frozen=True, slots=True)
class ConversationLimits:
    """The bounds every store keeps.

    Attributes:
        max_turns: Turns kept per conversation; older ones are dropped as new ones come.
        idle_seconds: A conversation untouched this long is forgotten.
    """

    max_turns: int = 10
    idle_seconds: float = 24 * 3600.0


class ConversationStore(abc.ABC):
    """Where the gateway keeps conversations, shared by its replicas when it has several.

    Args:
        limits: Turns kept per conversation and the idle time after which one is forgotten.
    """

    kind: str = ""
    """Short name of the kind of store (``sqlite``, ``redis``), as in metric labels."""

    def __init__(self, limits: ConversationLimits) -> None:
        self.limits = limits

    @property
    @abc.abstractmethod
    def description(self) -> str:
        """The store as a caller may be told: no password, no file-system path."""

    @abc.abstractmethod
    async def history(self, conversation_id: str) -> list[ConversationTurn]:
        """The conversation's last turns, oldest first; none for an unknown or idle one.

        Raises:
            ConversationStoreError: The store cannot be read.
        """

    @abc.abstractmethod
    async def append(self, conversation_id: str, turn: ConversationTurn) -> None:
        """Adds a turn atomically, drops turns over the bound, restarts the idle time.

        Raises:
            ConversationStoreError: The store cannot be written.
        """

    @abc.abstractmethod
    async def forget(self, conversation_id: str) -> None:
        """Deletes a conversation (nothing happens for an unknown one).

        Raises:
            ConversationStoreError: The store cannot be written.
        """

    async def check(self) -> None:
        """Reads an unknown conversation: raises when the store cannot be used now.

        Raises:
            ConversationStoreError: The store cannot be read.
        """
        await self.history("")

    @abc.abstractmethod
    async def close(self) -> None:
        """Releases the store's connections."""
