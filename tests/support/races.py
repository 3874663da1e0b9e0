"""A known grpcio client race, and a way for tests to see past it.

grpc/grpc#36066: when a server ends a client-streaming call while the client is still
writing, grpcio's asyncio client may report ``INTERNAL "Internal error from Core"``
instead of the server's status. The server's answer is right (its metrics show it);
the client library loses it, so tests repeat such a call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc

CLIENT_WRITE_RACE = (grpc.StatusCode.INTERNAL, "Internal error from Core")


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
