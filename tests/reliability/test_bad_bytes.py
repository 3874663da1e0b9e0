"""Bytes that are not a message of the method's type: INVALID_ARGUMENT on every RPC.

gRPC Python would answer them with UNKNOWN and log a stack trace; the servers' safety
interceptor turns them into a clear INVALID_ARGUMENT instead.
"""

from __future__ import annotations

import grpc
import pytest

from avatar_devtools.fuzzing import all_rpcs
from tests.reliability.harness import assert_still_serving, outcome

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Bytes no message of any type can be parsed from.
GARBAGE = {
    "corrupt wire format": b"\xff\xff\xff\xff",
    "field cut short": b"\x0a\x05ab",
    "number without its value": b"\x08",
}


def _call(channel: grpc.aio.Channel, rpc, payload: bytes):
    """Sends raw bytes (streams: the bytes as their first message) with identity serialisers."""
    if rpc.method.client_streaming:
        factory = channel.stream_stream if rpc.method.server_streaming else channel.stream_unary
        return factory(rpc.path)(iter([payload]), timeout=10)
    factory = channel.unary_stream if rpc.method.server_streaming else channel.unary_unary
    return factory(rpc.path)(payload, timeout=10)


@pytest.mark.parametrize("rpc", all_rpcs(), ids=lambda rpc: rpc.name)
@pytest.mark.parametrize("payload", list(GARBAGE.values()), ids=list(GARBAGE))
async def test_undecodable_bytes_are_invalid_argument(shared, rpc, payload):
    async with shared.stack.channel(rpc.service) as channel:
        code, details = await outcome(_call(channel, rpc, payload))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, f"{code.name}: {details}"
    assert "the request is not a valid protobuf message" in details
    await assert_still_serving(shared.stack, rpc.service)
