"""A conversation store that times its operations and counts its failures."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from prometheus_client import Counter, Histogram

from avatar_gateway.conversations.base import (
    ConversationStore,
    ConversationStoreError,
    ConversationTurn,
)


class MeasuredConversationStore(ConversationStore):
    """Wraps a store: each operation's time and each failure go to the gateway's metrics.

    Args:
        store: The store that does the work.
        seconds: Histogram of operation times, labelled ``operation`` and ``store``.
        errors: Counter of failed operations, labelled ``operation`` and ``store``.
    """

    def __init__(self, store: ConversationStore, seconds: Histogram, errors: Counter) -> None:
        super().__init__(store.limits)
        self.store = store
        self.kind = store.kind
        self._seconds = seconds
        self._errors = errors

    @property
    def description(self) -> str:
        """The wrapped store's description."""
        return self.store.description

    async def history(self, conversation_id: str) -> list[ConversationTurn]:
        """The wrapped store's history, timed as ``read``."""
        with self._measured("read"):
            return await self.store.history(conversation_id)

    async def append(self, conversation_id: str, turn: ConversationTurn) -> None:
        """The wrapped store's append, timed as ``append``."""
        with self._measured("append"):
            await self.store.append(conversation_id, turn)

    async def forget(self, conversation_id: str) -> None:
        """The wrapped store's forget, timed as ``forget``."""
        with self._measured("forget"):
            await self.store.forget(conversation_id)

    async def close(self) -> None:
        """Closes the wrapped store."""
        await self.store.close()

    @contextlib.contextmanager
    def _measured(self, operation: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        except ConversationStoreError:
            self._errors.labels(operation, self.kind).inc()
            raise
        finally:
            self._seconds.labels(operation, self.kind).observe(time.perf_counter() - started)
