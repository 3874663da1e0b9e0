"""Conversations in Redis, shared by every gateway replica.

Each conversation is one Redis list of JSON turns under ``avatar:conversation:<id>``.
An append is one ``MULTI``/``EXEC`` transaction (``RPUSH``, ``LTRIM`` to the last
``max_turns``, ``EXPIRE`` for the idle time), so replicas never see half a turn, and
Redis itself forgets idle conversations. A Redis that is down or unreachable fails an
operation within ``timeout_seconds``; the client reconnects on the next one, so chat
works again as soon as Redis is back.
"""

from __future__ import annotations

import math
from urllib.parse import urlsplit

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from avatar_gateway.conversations.base import (
    ConversationLimits,
    ConversationStore,
    ConversationStoreError,
    ConversationTurn,
)

KEY_PREFIX = "avatar:conversation:"


class RedisConversationStore(ConversationStore):
    """Conversations in Redis (the ``redis`` client's asyncio API).

    Args:
        url: ``redis://[user:password@]host:port/db`` or ``rediss://`` (TLS).
        limits: Turns kept per conversation and the idle time after which one is forgotten.
        timeout_seconds: Longest wait to connect and for each answer.
    """

    kind = "redis"

    def __init__(self, url: str, limits: ConversationLimits, timeout_seconds: float = 2.0) -> None:
        super().__init__(limits)
        parts = urlsplit(url)
        # Named in error messages: host and port only, never the password in the URL.
        self._where = f"redis at {parts.hostname or 'localhost'}:{parts.port or 6379}"
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            # One immediate retry: a pooled connection that died with a restarted Redis
            # is replaced at once, while a Redis that is down fails the call quickly.
            retry=Retry(NoBackoff(), 1),
        )

    @property
    def description(self) -> str:
        """``redis at host:port``."""
        return self._where

    async def history(self, conversation_id: str) -> list[ConversationTurn]:
        """The conversation's last turns, oldest first; none for an unknown or idle one."""
        try:
            items = await self._client.lrange(_key(conversation_id), -self.limits.max_turns, -1)
        except (RedisError, OSError) as error:
            raise self._unavailable(error) from error
        turns = []
        for item in items:
            try:
                turns.append(ConversationTurn.from_json(item))
            except ValueError:
                continue  # not written by us; the rest of the conversation still counts
        return turns

    async def append(self, conversation_id: str, turn: ConversationTurn) -> None:
        """Adds a turn in one transaction, keeps the last turns, restarts the idle time."""
        key = _key(conversation_id)
        try:
            async with self._client.pipeline(transaction=True) as pipeline:
                pipeline.rpush(key, turn.to_json())
                pipeline.ltrim(key, -self.limits.max_turns, -1)
                pipeline.expire(key, max(1, math.ceil(self.limits.idle_seconds)))
                await pipeline.execute()
        except (RedisError, OSError) as error:
            raise self._unavailable(error) from error

    async def forget(self, conversation_id: str) -> None:
        """Deletes a conversation."""
        try:
            await self._client.delete(_key(conversation_id))
        except (RedisError, OSError) as error:
            raise self._unavailable(error) from error

    async def close(self) -> None:
        """Closes the client's connections."""
        await self._client.aclose()

    def _unavailable(self, error: Exception) -> ConversationStoreError:
        problem = str(error) or "no answer"
        if isinstance(error, OSError) and error.strerror:
            problem = error.strerror
        return ConversationStoreError(self._where, problem)


def _key(conversation_id: str) -> str:
    return KEY_PREFIX + conversation_id
