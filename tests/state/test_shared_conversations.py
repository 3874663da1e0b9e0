"""Conversations that survive replicas, restarts and a store outage, with real processes.

Two llm replicas sit behind the gateway's ``round_robin`` channel, as in the shipped
Kubernetes base; the model is a fake OpenAI-compatible server that answers with the
number of user messages it was sent and keeps every request. Over a conversation,
every turn must carry every earlier turn, whichever replica or gateway serves it.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest

from avatar.gateway.v1 import gateway_pb2
from avatar_devtools.client import GatewayClient
from avatar_devtools.samples import sample_face
from tests.state.processes import state_stack
from tests.support.redis_server import running_redis

pytestmark = pytest.mark.slow

CHAT = gateway_pb2.SPEAK_MODE_CHAT


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with state_stack(tmp_path_factory.mktemp("state")) as running:
        yield running


@pytest.fixture(scope="module")
def avatar_id(stack) -> str:
    gateway = stack.start_gateway()

    async def create() -> str:
        async with GatewayClient(gateway.gateway_address) as client:
            return (await client.create_avatar(sample_face(), "state", timeout=120)).avatar_id

    try:
        return asyncio.run(create())
    finally:
        stack.stop_gateway(gateway)


@pytest.fixture
def redis(tmp_path):
    with running_redis(tmp_path / "redis") as server:
        yield server


async def _ask(address: str, avatar_id: str, conversation: str, number: int):
    request = gateway_pb2.SpeakRequest(
        avatar_id=avatar_id, text=f"Question {number}?", mode=CHAT, conversation_id=conversation
    )
    async with GatewayClient(address) as client:
        return await client.speak(request, timeout=120)


def _received_questions(stack) -> list[str]:
    """The user messages of the last request the model received, in order."""
    messages = stack.model.requests[-1]["messages"]
    return [message["content"] for message in messages if message["role"] == "user"]


async def _converse(stack, addresses: list[str], avatar_id: str, conversation: str, turns: int):
    """Asks ``turns`` questions, turn k on ``addresses[k % len]``; checks each turn's history."""
    answers = []
    for number in range(1, turns + 1):
        result = await _ask(addresses[number % len(addresses)], avatar_id, conversation, number)
        assert result.summary.spoken_text == f"You have asked me {number} questions."
        assert _received_questions(stack) == [f"Question {n}?" for n in range(1, number + 1)]
        sent_answers = [
            message["content"]
            for message in stack.model.requests[-1]["messages"]
            if message["role"] == "assistant"
        ]
        assert sent_answers == answers
        answers.append(result.summary.spoken_text)


async def test_every_turn_carries_the_earlier_ones_over_two_llm_replicas(stack, avatar_id, redis):
    gateway = stack.start_gateway(redis.url)
    before = stack.chat_calls()
    await _converse(stack, [gateway.gateway_address], avatar_id, "two-replicas", 6)
    served = [after - start for after, start in zip(stack.chat_calls(), before, strict=True)]
    assert sum(served) == 6 and min(served) > 0, served  # both replicas answered turns


async def test_two_gateways_sharing_redis_share_the_conversation(stack, avatar_id, redis):
    first, second = stack.start_gateway(redis.url), stack.start_gateway(redis.url)
    addresses = [first.gateway_address, second.gateway_address]
    await _converse(stack, addresses, avatar_id, "two-gateways", 6)


async def test_the_embedded_store_survives_a_gateway_restart(stack, avatar_id):
    gateway = stack.start_gateway()
    for number in (1, 2, 3):
        await _ask(gateway.gateway_address, avatar_id, "restart", number)
    ports = gateway.ports
    stack.stop_gateway(gateway)
    restarted = stack.start_gateway(ports=ports)
    result = await _ask(restarted.gateway_address, avatar_id, "restart", 4)
    assert _received_questions(stack) == [
        "Question 1?",
        "Question 2?",
        "Question 3?",
        "Question 4?",
    ]
    assert result.summary.spoken_text == "You have asked me 4 questions."


async def test_a_redis_outage_fails_chat_clearly_speech_goes_on_and_chat_recovers(
    stack, avatar_id, redis
):
    gateway = stack.start_gateway(redis.url)
    address = gateway.gateway_address
    for number in (1, 2):
        await _ask(address, avatar_id, "outage", number)
    redis.kill()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _ask(address, avatar_id, "outage", 3)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert caught.value.details().startswith(
        f"conversation store unavailable: redis at 127.0.0.1:{redis.port}: "
    ), caught.value.details()
    async with GatewayClient(address) as client:
        spoken = await client.speak(
            gateway_pb2.SpeakRequest(avatar_id=avatar_id, text="Still here."), timeout=120
        )
    assert spoken.frames > 0 and spoken.summary.spoken_text == "Still here."
    redis.start()  # the same port and data, the same gateway process
    result = await _ask(address, avatar_id, "outage", 3)
    assert _received_questions(stack) == ["Question 1?", "Question 2?", "Question 3?"]
    assert result.summary.spoken_text == "You have asked me 3 questions."
