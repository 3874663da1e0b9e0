"""Helpers for config-first request streams (config, payload..., end)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc

# How long a stream that ended without its end message waits for a cancel to arrive.
_CANCEL_SETTLE_SECONDS = 0.05
_CANCEL_SETTLE_STEPS = 10


async def read_config(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
    """Returns the first message's ``config``; aborts INVALID_ARGUMENT when it is not one.

    Args:
        requests: The request stream (an async iterator of messages with a
            ``message`` oneof whose first field is ``config``).
        context: The call's context, used to abort.
    """
    first = await anext(requests, None)
    if first is None:
        await _raise_if_cancelled(context)
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "empty stream: send config first")
    kind = first.WhichOneof("message")
    if kind != "config":
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"wrong stream order: the first message must be config, got {kind or 'nothing'}",
        )
    return first.config


async def payload(
    requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
) -> AsyncIterator[Any]:
    """Yields the messages after the config up to ``end``; aborts on a second config
    or when the stream closes without ``end``."""
    async for request in requests:
        kind = request.WhichOneof("message")
        if kind == "end":
            return
        if kind == "config" or kind is None:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "wrong stream order: config sent twice" if kind else "empty message in stream",
            )
        yield request
    await _raise_if_cancelled(context)
    await context.abort(
        grpc.StatusCode.INVALID_ARGUMENT, "stream closed without end: send end as the last message"
    )


async def _raise_if_cancelled(context: grpc.aio.ServicerContext) -> None:
    """Reports a stream that ended because the client cancelled as the cancel it is.

    A client's cancel (or expired deadline) first ends the request stream and reaches
    the handler as a cancelled task a few milliseconds later; without this wait it would
    be answered, and counted, as a stream closed without its end message.
    """
    for _ in range(_CANCEL_SETTLE_STEPS):
        if context.cancelled():
            raise asyncio.CancelledError("the client cancelled the call")
        await asyncio.sleep(_CANCEL_SETTLE_SECONDS / _CANCEL_SETTLE_STEPS)
