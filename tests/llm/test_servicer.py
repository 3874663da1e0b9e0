"""The llm servicer against a real in-process gRPC server and a fake model endpoint."""

from __future__ import annotations

import asyncio
import contextlib

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from avatar.llm.v1 import llm_pb2, llm_pb2_grpc
from avatar_core.config import ServerConfig
from avatar_core.server import running_server
from avatar_devtools.fake_openai import FakeOpenAI
from avatar_llm.config import LlmConfig
from avatar_llm.engine import ChatSettings
from avatar_llm.servicer import create_service
from tests.support.network import metric_value, scrape


def _config(**chat) -> LlmConfig:
    return LlmConfig(
        server=ServerConfig(service="llm", host="127.0.0.1", port=0, metrics_port=0),
        chat=ChatSettings(max_retries=0, **chat),
    )


@pytest.fixture
async def serve():
    """Starts llm servers with the given chat settings; each call yields (server, stub)."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(**chat):
            config = _config(**chat)
            server = await stack.enter_async_context(
                running_server(config.server, lambda registry: create_service(config, registry))
            )
            channel = await stack.enter_async_context(
                grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
            )
            return server, llm_pb2_grpc.LlmServiceStub(channel)

        yield start


USER, ASSISTANT = llm_pb2.CHAT_ROLE_USER, llm_pb2.CHAT_ROLE_ASSISTANT


async def _chat(stub, message: str, history=(), **fields):
    request = llm_pb2.ChatRequest(
        message=message,
        history=[llm_pb2.ChatMessage(role=role, text=text) for role, text in history],
        **fields,
    )
    return [response async for response in stub.Chat(request, timeout=10)]


async def test_chat_streams_started_deltas_and_end(serve, fake_openai):
    server, stub = await serve(base_url=fake_openai.base_url, model="fake-model")
    responses = await _chat(stub, "Hello robot")
    kinds = [response.WhichOneof("event") for response in responses]
    assert kinds[0] == "started" and kinds[-1] == "end"
    assert set(kinds[1:-1]) == {"delta"} and len(kinds) > 4
    assert [response.sequence for response in responses] == list(range(len(responses)))
    assert responses[0].started.model == "fake-model"
    text = "".join(response.delta.text for response in responses[1:-1])
    assert text == responses[-1].end.text == "You said: Hello robot. I have seen 2 messages."
    assert responses[-1].end.finish_reason == "stop"


async def test_the_request_history_and_fields_reach_the_model_and_nothing_is_kept(
    serve, fake_openai
):
    _, stub = await serve(base_url=fake_openai.base_url, model="fake-model", history_turns=1)
    history = [(USER, "One"), (ASSISTANT, "First answer."), (USER, "Two"), (ASSISTANT, "Second.")]
    responses = await _chat(
        stub, "Three", history, system_prompt="Be terse.", max_tokens=2, language="hr"
    )
    assert responses[-1].end.finish_reason == "length"
    sent = fake_openai.requests[-1]
    assert sent["max_tokens"] == 2
    assert sent["messages"][0]["content"].startswith("Be terse.")
    # One turn of history (AVATAR_LLM_HISTORY_TURNS=1): the last question and its answer.
    assert [(m["role"], m["content"]) for m in sent["messages"][1:]] == [
        ("user", "Two"),
        ("assistant", "Second."),
        ("user", "Three"),
    ]
    await _chat(stub, "Four")
    assert len(fake_openai.requests[-1]["messages"]) == 2  # the service remembered nothing


async def test_a_history_message_without_a_role_is_invalid_argument(serve, fake_openai):
    _, stub = await serve(base_url=fake_openai.base_url, model="fake-model")
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await _chat(stub, "Hello", [(USER, "Hi"), (llm_pb2.CHAT_ROLE_UNSPECIFIED, "Hm")])
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "history message 1 has no role" in error.value.details()
    assert fake_openai.requests == []


async def test_empty_message_is_invalid_argument(serve, fake_openai):
    _, stub = await serve(base_url=fake_openai.base_url, model="fake-model")
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await _chat(stub, "  ")
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "empty" in error.value.details()
    assert fake_openai.requests == []


async def test_unconfigured_service_is_failed_precondition_naming_the_variables(serve):
    server, stub = await serve()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="avatar.llm.v1.LlmService")
        )
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await _chat(stub, "Hello")
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "AVATAR_LLM_BASE_URL" in error.value.details()
    assert "AVATAR_LLM_MODEL" in error.value.details()


async def test_endpoint_down_is_unavailable_and_recovers_when_it_returns(serve):
    fake = FakeOpenAI()
    base_url = fake.start()
    server, stub = await serve(base_url=base_url, model="fake-model")
    port = int(base_url.rsplit(":", 1)[1].split("/")[0])
    fake.stop()
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await _chat(stub, "Hello")
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "cannot reach the language model" in error.value.details()
    assert base_url in error.value.details()
    with FakeOpenAI(port=port):
        responses = await _chat(stub, "Hello again")
    assert responses[-1].end.text.startswith("You said: Hello again.")
    samples = await asyncio.to_thread(scrape, server.metrics_port)
    assert metric_value(samples, "avatar_llm_upstream_errors_total", kind="connection") == 1
    assert (
        metric_value(
            samples, "grpc_server_handled_total", grpc_method="Chat", grpc_code="UNAVAILABLE"
        )
        == 1
    )


async def test_http_error_from_the_endpoint_is_unavailable_with_its_message(serve, fake_openai):
    _, stub = await serve(base_url=fake_openai.base_url, model="fake-model")
    fake_openai.fail_next(503, "model is loading")
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await _chat(stub, "Hello")
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "HTTP 503: model is loading" in error.value.details()


async def test_client_cancel_closes_the_upstream_stream(serve):
    slow = FakeOpenAI(chunk_delay=0.05)
    with slow as base_url:
        _, stub = await serve(base_url=base_url, model="fake-model")
        call = stub.Chat(llm_pb2.ChatRequest(message="Tell me a story"))
        async for response in call:
            if response.WhichOneof("event") == "delta":
                call.cancel()
                break
        assert await asyncio.to_thread(slow.wait_for_hang_ups, 1)


async def test_metrics_count_answers(serve, fake_openai):
    server, stub = await serve(base_url=fake_openai.base_url, model="fake-model")
    responses = await _chat(stub, "Count me", [(USER, "Hi"), (ASSISTANT, "Hello.")])
    samples = await asyncio.to_thread(scrape, server.metrics_port)
    characters = len(responses[-1].end.text)
    assert metric_value(samples, "avatar_llm_answer_characters_total") == characters
    assert metric_value(samples, "avatar_llm_time_to_first_delta_seconds_count") == 1
    assert metric_value(samples, "avatar_llm_history_messages_sum") == 2
    assert (
        metric_value(samples, "grpc_server_handled_total", grpc_method="Chat", grpc_code="OK") == 1
    )
