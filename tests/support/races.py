"""A known grpcio client race, and a way for tests to see past it.

grpc/grpc#36066: when a server ends a client-streaming call while the client is still
writing, grpcio's asyncio client may report ``INTERNAL "Internal error from Core"``
instead of the server's status. The server's answer is right (its metrics show it);
the client library loses it, so tests repeat such a call, and :func:`paced` leaves the
server time to answer before the next message is written.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TypeVar

import grpc

CLIENT_WRITE_RACE = (grpc.StatusCode.INTERNAL, "Internal error from Core")
# Long enough for a server to refuse a message before the next one is written, even on
# a busy machine; short enough that a table of bad-input cases stays quick.
PAUSE_SECONDS = 0.05

Message = TypeVar("Message")


async def paced(
    messages: Iterable[Message], pause: float = PAUSE_SECONDS
) -> AsyncIterator[Message]:
    """Yields ``messages`` as a request stream, with ``pause`` seconds between them.

    A server that refuses a message has then answered before the next is written, so the
    client sees the server's status instead of losing it to the race above (grpcio does not
    write to a call that has finished).
    """
    for index, message in enumerate(messages):
        if index:
            await asyncio.sleep(pause)
        yield message


async def refused(
    make_call: Callable[[], Awaitable[object]], attempts: int = 5
) -> grpc.aio.AioRpcError:
    """Runs ``make_call()`` until it fails with something other than the race; returns the error.

    Raises:
        AssertionError: The call succeeded.
    """
    error = None
    for _ in range(attempts):
        try:
            await make_call()
        except grpc.aio.AioRpcError as raised:
            error = raised
            if (raised.code(), raised.details()) != CLIENT_WRITE_RACE:
                return raised
        else:
            raise AssertionError("the call succeeded; it was expected to fail")
    return error
