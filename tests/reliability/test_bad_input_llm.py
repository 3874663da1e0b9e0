"""Bad input to the llm service: clear statuses, and the service keeps serving."""

from __future__ import annotations

import grpc
import pytest

from avatar.llm.v1 import llm_pb2, llm_pb2_grpc
from avatar_devtools.fake_openai import FakeOpenAI
from tests.reliability.harness import Case, check_case, outcome
from tests.support.services import in_process_server

pytestmark = pytest.mark.asyncio(loop_scope="session")

INVALID = grpc.StatusCode.INVALID_ARGUMENT


def _chat(**fields):
    return lambda shared: shared.stubs.llm.Chat(llm_pb2.ChatRequest(**fields), timeout=30)


CASES = [
    Case("empty message", "llm", _chat(message=""), INVALID, "the message is empty"),
    Case("white space only", "llm", _chat(message=" \n "), INVALID, "the message is empty"),
    Case("message over the limit", "llm", _chat(message="a" * 4001), INVALID, "at most 4000"),
    Case(
        "history of 1000 messages",
        "llm",
        _chat(message="Hi", history=[llm_pb2.ChatMessage(role=1, text="Hi")] * 1000),
        INVALID,
        "at most 200",
    ),
    Case(
        "history message without a role",
        "llm",
        _chat(message="Hi", history=[llm_pb2.ChatMessage(text="Hi")]),
        INVALID,
        "has no role",
    ),
    Case(
        "system prompt of 20000 characters",
        "llm",
        _chat(message="Hi", system_prompt="s" * 20_000),
        INVALID,
        "the system prompt has 20000 characters",
    ),
    Case("bad language tag", "llm", _chat(message="Hi", language="!!"), INVALID, "BCP 47"),
    Case(
        "language tag of 100000 characters",
        "llm",
        _chat(message="Hi", language="x" * 100_000),
        INVALID,
        "is not a BCP 47 tag",
    ),
    Case("token limit too high", "llm", _chat(message="Hi", max_tokens=99_999), INVALID, "1-32768"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
async def test_bad_input_gets_a_clear_status(shared, case):
    await check_case(shared, case)


async def test_a_model_the_endpoint_does_not_have_is_a_failed_precondition():
    with FakeOpenAI(model="real-model") as base_url:
        environment = {"AVATAR_LLM_BASE_URL": base_url, "AVATAR_LLM_MODEL": "no-such-model"}
        async with (
            in_process_server("llm", environment) as server,
            grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
        ):
            stub = llm_pb2_grpc.LlmServiceStub(channel)
            code, details = await outcome(stub.Chat(llm_pb2.ChatRequest(message="Hi")))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "answered HTTP 404" in details and "no-such-model" in details
