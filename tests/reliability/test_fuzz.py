"""Fuzzing every RPC of running servers: generated messages and raw bytes, no crash.

A few hundred cases, the same on every run; ``benchmarks/fuzz.py`` runs tens of
thousands of new ones against the services as separate processes.
"""

from __future__ import annotations

import asyncio

import pytest

from avatar_devtools.fuzz_overrides import avatar_overrides
from avatar_devtools.fuzzing import SERVICES, Fuzzer, all_rpcs
from tests.reliability.harness import PHOTO, assert_still_serving, server_errors, small_frame_batch

pytestmark = pytest.mark.asyncio(loop_scope="session")

MESSAGES_PER_RPC = 25
RAW_PER_RPC = 10


async def test_fuzzed_requests_get_clear_statuses_and_break_nothing(shared):
    stack = shared.stack
    overrides = avatar_overrides(
        shared.avatar_id, shared.content_hash, PHOTO, small_frame_batch().frames[0].data
    )
    addresses = {service: stack.address(service) for service in SERVICES}
    errors_before = server_errors(stack)

    def fuzz():
        fuzzer = Fuzzer(addresses, overrides, timeout=30, derandomize=True)
        try:
            return fuzzer.run(MESSAGES_PER_RPC, RAW_PER_RPC)
        finally:
            fuzzer.close()

    # The servers run in this event loop; the synchronous fuzzer runs in a thread.
    report = await asyncio.to_thread(fuzz)

    assert report.findings == []
    assert server_errors(stack) == errors_before
    assert set(report.per_rpc) == {rpc.name for rpc in all_rpcs()}
    assert report.cases >= 300
    # The valid values mixed in let some calls through to the real work.
    for rpc in ("GatewayService/Speak", "AnimatorService/Animate", "EnhancerService/Enhance"):
        assert report.per_rpc_code[rpc, "OK"] > 0, rpc
    for service in SERVICES:
        await assert_still_serving(stack, service)
