"""The embedded conversation store: one SQLite file, for a gateway that runs alone.

It needs nothing else running and survives a restart: the file sits in the gateway's
data directory (by default ``.conversations.sqlite3`` in the avatar directory). Every
operation runs on one worker thread of its own with one connection, so operations never
interleave; each append is one transaction. SQLite's locking is not safe on network
file systems, so gateways that share a volume share Redis instead (see
:mod:`avatar_gateway.conversations.redis_store`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from avatar_gateway.conversations.base import (
    ConversationLimits,
    ConversationStore,
    ConversationStoreError,
    ConversationTurn,
)

log = logging.getLogger(__name__)
Result = TypeVar("Result")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    conversation_id TEXT PRIMARY KEY,
    last_active REAL NOT NULL,
    turns_added INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_by_activity ON conversations (last_active);
CREATE TABLE IF NOT EXISTS conversation_turns (
    conversation_id TEXT NOT NULL,
    turn_number INTEGER NOT NULL,
    turn TEXT NOT NULL,
    PRIMARY KEY (conversation_id, turn_number)
) WITHOUT ROWID;
"""
# Seconds a write waits for another connection's lock (another process on the same file).
_BUSY_TIMEOUT_SECONDS = 5.0


class SqliteConversationStore(ConversationStore):
    """Conversations in a SQLite file.

    Args:
        path: The database file; created, with its directory, when missing.
        limits: Turns kept per conversation and the idle time after which one is forgotten.
        clock: Current Unix time (tests move it).
    """

    kind = "sqlite"

    def __init__(
        self,
        path: Path,
        limits: ConversationLimits,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(limits)
        self._path = Path(path)
        self._clock = clock
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="conversation-store")
        self._connection: sqlite3.Connection | None = None

    @property
    def description(self) -> str:
        """``the embedded store (sqlite)``: its path is the server's business."""
        return "the embedded store (sqlite)"

    async def history(self, conversation_id: str) -> list[ConversationTurn]:
        """The conversation's last turns, oldest first; none for an unknown or idle one."""
        rows = await self._run(self._read, conversation_id)
        turns = []
        for row in rows:
            try:
                turns.append(ConversationTurn.from_json(row))
            except ValueError as error:
                log.warning("skipping an unreadable turn of a conversation: %s", error)
        return turns

    async def append(self, conversation_id: str, turn: ConversationTurn) -> None:
        """Adds a turn in one transaction, drops old turns and idle conversations."""
        await self._run(self._write, conversation_id, turn.to_json())

    async def forget(self, conversation_id: str) -> None:
        """Deletes a conversation."""
        await self._run(self._delete, conversation_id)

    async def close(self) -> None:
        """Closes the connection and stops the worker thread."""
        await asyncio.get_running_loop().run_in_executor(self._worker, self._close)
        self._worker.shutdown(wait=True)

    async def _run(self, operation: Callable[..., Result], *args: object) -> Result:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._worker, self._guarded, operation, args)
        except (sqlite3.Error, OSError) as error:
            raise ConversationStoreError(self.description, _problem(error)) from error

    def _guarded(self, operation: Callable[..., Result], args: tuple[object, ...]) -> Result:
        """Runs an operation on the worker; after a failure the next one reconnects."""
        try:
            return operation(*args)
        except (sqlite3.Error, OSError):
            with contextlib.suppress(sqlite3.Error):
                self._close()
            raise

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: each operation opens its own transaction explicitly.
            connection = sqlite3.connect(
                self._path, timeout=_BUSY_TIMEOUT_SECONDS, isolation_level=None
            )
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.executescript(_SCHEMA)
            except sqlite3.Error:
                connection.close()
                raise
            self._connection = connection
        return self._connection

    def _close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            connection.close()

    def _read(self, conversation_id: str) -> list[str]:
        connection = self._connect()
        row = connection.execute(
            "SELECT last_active FROM conversations WHERE conversation_id = ?", (conversation_id,)
        ).fetchone()
        if row is None or row[0] < self._clock() - self.limits.idle_seconds:
            return []
        rows = connection.execute(
            "SELECT turn FROM conversation_turns WHERE conversation_id = ? "
            "ORDER BY turn_number DESC LIMIT ?",
            (conversation_id, self.limits.max_turns),
        ).fetchall()
        return [text for (text,) in reversed(rows)]

    def _write(self, conversation_id: str, turn: str) -> None:
        connection = self._connect()
        now = self._clock()
        connection.execute("BEGIN IMMEDIATE")
        try:
            self._drop_idle(connection, now)
            (added,) = connection.execute(
                "INSERT INTO conversations (conversation_id, last_active, turns_added) "
                "VALUES (?, ?, 1) ON CONFLICT (conversation_id) DO UPDATE SET "
                "last_active = excluded.last_active, turns_added = turns_added + 1 "
                "RETURNING turns_added",
                (conversation_id, now),
            ).fetchone()
            connection.execute(
                "INSERT INTO conversation_turns (conversation_id, turn_number, turn) "
                "VALUES (?, ?, ?)",
                (conversation_id, added, turn),
            )
            connection.execute(
                "DELETE FROM conversation_turns WHERE conversation_id = ? AND turn_number <= ?",
                (conversation_id, added - self.limits.max_turns),
            )
            connection.execute("COMMIT")
        except BaseException:
            _roll_back(connection)
            raise

    def _drop_idle(self, connection: sqlite3.Connection, now: float) -> None:
        """Forgets every conversation idle for longer than the limit."""
        oldest = now - self.limits.idle_seconds
        connection.execute(
            "DELETE FROM conversation_turns WHERE conversation_id IN "
            "(SELECT conversation_id FROM conversations WHERE last_active < ?)",
            (oldest,),
        )
        connection.execute("DELETE FROM conversations WHERE last_active < ?", (oldest,))

    def _delete(self, conversation_id: str) -> None:
        connection = self._connect()
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute(
                "DELETE FROM conversation_turns WHERE conversation_id = ?", (conversation_id,)
            )
            connection.execute(
                "DELETE FROM conversations WHERE conversation_id = ?", (conversation_id,)
            )
            connection.execute("COMMIT")
        except BaseException:
            _roll_back(connection)
            raise


def _roll_back(connection: sqlite3.Connection) -> None:
    """Undoes the open transaction; a connection too broken for that is closed anyway."""
    with contextlib.suppress(sqlite3.Error):
        connection.execute("ROLLBACK")


def _problem(error: Exception) -> str:
    """What went wrong, in words, without the file's path (OS errors name it)."""
    if isinstance(error, OSError):
        return error.strerror or "the file cannot be used"
    return str(error) or "the database cannot be used"
