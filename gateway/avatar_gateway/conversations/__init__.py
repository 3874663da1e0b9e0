"""The gateway's conversation store: chat history that survives replicas and restarts.

The llm service keeps no state; the gateway keeps each conversation here and sends its
turns with every chat request. :func:`open_conversation_store` picks the store from
``AVATAR_GATEWAY_CONVERSATIONS_URL``:

- unset, or ``sqlite:PATH``: the embedded store, a SQLite file (by default
  ``.conversations.sqlite3`` in the avatar directory); enough for one gateway;
- ``redis://host:port/db`` or ``rediss://...``: Redis, needed once several gateway
  replicas serve the same conversations.
"""

from __future__ import annotations

from pathlib import Path

from avatar_gateway.conversations.base import (
    ConversationLimits,
    ConversationStore,
    ConversationStoreError,
    ConversationTurn,
)
from avatar_gateway.conversations.redis_store import RedisConversationStore
from avatar_gateway.conversations.sqlite_store import SqliteConversationStore

__all__ = [
    "DEFAULT_SQLITE_NAME",
    "ConversationLimits",
    "ConversationStore",
    "ConversationStoreError",
    "ConversationTurn",
    "RedisConversationStore",
    "SqliteConversationStore",
    "open_conversation_store",
    "store_url_problem",
]

DEFAULT_SQLITE_NAME = ".conversations.sqlite3"
"""The embedded store's file in the avatar directory (hidden: it is not an avatar)."""
SCHEMES = ("sqlite:", "redis://", "rediss://")


def store_url_problem(url: str) -> str:
    """What is wrong with a store URL, or "" when it names a store."""
    if not url or (url.startswith(SCHEMES) and url not in SCHEMES and url != "sqlite://"):
        return ""
    return (
        "is not a conversation store: use redis://HOST:PORT/DB (or rediss:// for TLS), "
        "or sqlite:PATH for the embedded store"
    )


def open_conversation_store(
    url: str, avatar_dir: Path, limits: ConversationLimits, timeout_seconds: float = 2.0
) -> ConversationStore:
    """The store ``url`` names; unset means the embedded one in ``avatar_dir``.

    Connections open on first use, so a store that is down does not stop the gateway
    from starting: speaking plain text needs no conversation.

    Raises:
        ValueError: ``url`` names no store (see :func:`store_url_problem`).
    """
    problem = store_url_problem(url)
    if problem:
        raise ValueError(f"{url!r} {problem}")
    if url.startswith(("redis://", "rediss://")):
        return RedisConversationStore(url, limits, timeout_seconds)
    path = Path(url.removeprefix("sqlite:").removeprefix("//")) if url else None
    return SqliteConversationStore(path or Path(avatar_dir) / DEFAULT_SQLITE_NAME, limits)
