"""Converse refuses bad sessions with clear statuses, fails bad turns alone, caps sessions.

The stack's gateway has no LLM configured and allows two live sessions.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest
import pytest_asyncio

from avatar.common.v1 import media_pb2
from avatar.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from tests.reliability.harness import PHOTO, running_stack
from tests.support.converse_client import LiveSession

MAX_SESSIONS = 2
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(tmp_path_factory):
    """A stub of a gateway without an LLM, capped at MAX_SESSIONS, and an avatar id."""
    environments = {
        "gateway": {
            "AVATAR_GATEWAY_LLM_ADDRESS": "",
            "AVATAR_GATEWAY_MAX_SESSIONS": str(MAX_SESSIONS),
            "AVATAR_GATEWAY_MAX_TEXT_CHARS": "200",
        }
    }
    stack_run = running_stack(tmp_path_factory.mktemp("converse"), environments)
    async with stack_run as stack, stack.channel("gateway") as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        avatar = await stub.CreateAvatar(gateway_pb2.CreateAvatarRequest(image=PHOTO), timeout=60)
        yield stack, stub, avatar.avatar_id


def _config(avatar_id: str, **fields) -> gateway_pb2.ConverseRequest:
    return gateway_pb2.ConverseRequest(
        config=gateway_pb2.ConverseConfig(avatar_id=avatar_id, **fields)
    )


BAD_CONFIGS = [
    ("a turn first", lambda a: gateway_pb2.ConverseRequest(turn=gateway_pb2.ConverseTurn(text="Hi")),
     grpc.StatusCode.INVALID_ARGUMENT, "first message must be a ConverseConfig"),
    ("an empty message first", lambda a: gateway_pb2.ConverseRequest(),
     grpc.StatusCode.INVALID_ARGUMENT, "first message must be a ConverseConfig"),
    ("an unknown avatar", lambda a: _config("0123456789abcdef"),
     grpc.StatusCode.NOT_FOUND, "unknown avatar '0123456789abcdef'"),
    ("no avatar", lambda a: _config(""), grpc.StatusCode.NOT_FOUND, "unknown avatar"),
    ("an unknown voice", lambda a: _config(a, voice="nobody"),
     grpc.StatusCode.INVALID_ARGUMENT, "unknown voice 'nobody'"),
    ("a frame rate too high", lambda a: _config(a, fps=500),
     grpc.StatusCode.INVALID_ARGUMENT, "fps must be between 1 and 60"),
    ("an unknown quality", lambda a: _config(a, quality=9),
     grpc.StatusCode.INVALID_ARGUMENT, "quality 9 is unknown"),
    ("a conversation id too long", lambda a: _config(a, conversation_id="c" * 300),
     grpc.StatusCode.INVALID_ARGUMENT, "conversation_id is 300 characters"),
    ("chat without an LLM", lambda a: _config(a, mode=gateway_pb2.SPEAK_MODE_CHAT),
     grpc.StatusCode.FAILED_PRECONDITION, "AVATAR_GATEWAY_LLM_ADDRESS"),
    ("a silence too short to end speech",
     lambda a: _config(a, listen=gateway_pb2.ConverseListen(end_of_speech_ms=50)),
     grpc.StatusCode.INVALID_ARGUMENT, "listen.end_of_speech_ms must be 100-5000"),
    ("a language that is no code",
     lambda a: _config(a, listen=gateway_pb2.ConverseListen(language="English")),
     grpc.StatusCode.INVALID_ARGUMENT, "listen.language must be an ISO 639-1 code"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("first", "code", "fragment"),
    [case[1:] for case in BAD_CONFIGS],
    ids=[case[0] for case in BAD_CONFIGS],
)
async def test_a_bad_config_ends_the_session_with_a_clear_status(gateway, first, code, fragment):
    _, stub, avatar_id = gateway
    session = LiveSession(stub, first(avatar_id))
    assert await session.finish() == code
    assert fragment in session.error.details()
    assert session.events == []


async def test_a_stream_closed_before_its_config_is_invalid(gateway):
    _, stub, _ = gateway
    session = LiveSession(stub, None)
    session.close()
    assert await session.finish() == grpc.StatusCode.INVALID_ARGUMENT
    assert "ended before its ConverseConfig" in session.error.details()


@pytest.mark.parametrize(
    ("message", "fragment"),
    [
        (_config("0123456789abcdef"), "already has its config"),
        (gateway_pb2.ConverseRequest(), "must carry a config, a turn, an interrupt or audio"),
    ],
    ids=["a second config", "an empty message"],
)
async def test_a_message_out_of_place_ends_the_session(gateway, message, fragment):
    _, stub, avatar_id = gateway
    session = LiveSession(stub, _config(avatar_id))
    await session.wait_for(lambda s: len(s.ticks) >= 3)
    session.send(message)
    assert await session.finish() == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in session.error.details()


async def test_bad_turns_fail_alone_and_the_session_goes_on(gateway):
    _, stub, avatar_id = gateway
    session = LiveSession(stub, _config(avatar_id))
    await session.wait_for(lambda s: len(s.ticks) >= 3)
    session.turn("   ", client_turn_id="empty")
    session.turn("x" * 201, client_turn_id="long")
    session.turn("Why is the sky blue?", mode=gateway_pb2.SPEAK_MODE_CHAT, client_turn_id="chat")
    session.turn("Hi!", mode=gateway_pb2.SPEAK_MODE_AUTO, client_turn_id="auto")
    await session.wait_for_turn_end(4)
    ticks = len(session.ticks)
    await session.wait_for(lambda s: len(s.ticks) >= ticks + 5)
    session.close()
    assert await session.finish() == grpc.StatusCode.OK

    ended = {e.turn: e.turn_ended for e in session.of_kind("turn_ended")}
    started = {e.turn: e.turn_started for e in session.of_kind("turn_started")}
    assert sorted(started) == sorted(ended) == [1, 2, 3, 4]
    assert [(ended[n].client_turn_id, ended[n].error_code) for n in (1, 2, 3)] == [
        ("empty", "INVALID_ARGUMENT"),
        ("long", "INVALID_ARGUMENT"),
        ("chat", "FAILED_PRECONDITION"),
    ]
    assert "text is empty" in ended[1].error_message
    assert "the limit is 200" in ended[2].error_message
    assert "AVATAR_GATEWAY_LLM_ADDRESS" in ended[3].error_message
    assert {ended[n].outcome for n in (1, 2, 3)} == {gateway_pb2.TURN_OUTCOME_FAILED}
    # AUTO speaks what is not a question, and a good turn after bad ones plays.
    assert started[4].mode == gateway_pb2.SPEAK_MODE_SPEAK
    assert ended[4].outcome == gateway_pb2.TURN_OUTCOME_DONE
    assert ended[4].summary.spoken_text == "Hi!"
    assert any(tick.turn == 4 for tick in session.ticks)
    assert session.ticks[-1].turn == 0


async def test_audio_without_an_asr_service_gets_one_clear_error_and_text_still_works(gateway):
    _, stub, avatar_id = gateway
    session = LiveSession(stub, _config(avatar_id))
    await session.wait_for(lambda s: len(s.ticks) >= 3)
    for index in range(5):
        audio = media_pb2.AudioChunk(pcm=bytes(640), sample_rate=16000, sample_offset=320 * index)
        session.send(gateway_pb2.ConverseRequest(audio=audio))
    session.turn("Hi!")
    ended = await session.wait_for_turn_end(1)
    session.close()
    assert await session.finish() == grpc.StatusCode.OK

    errors = session.speech()
    assert [(e.kind, e.error_code) for e in errors] == [
        (gateway_pb2.USER_SPEECH_KIND_ERROR, "FAILED_PRECONDITION")
    ]
    assert errors[0].error_message == (
        "speech input needs the asr service: set AVATAR_GATEWAY_ASR_ADDRESS"
    )
    assert ended.outcome == gateway_pb2.TURN_OUTCOME_DONE


async def test_sessions_beyond_the_cap_are_refused_busy_with_a_retry_time(gateway):
    stack, stub, avatar_id = gateway
    live = [LiveSession(stub, _config(avatar_id)) for _ in range(MAX_SESSIONS)]
    for session in live:
        await session.wait_for(lambda s: len(s.ticks) >= 1)
    refused = LiveSession(stub, _config(avatar_id))
    assert await refused.finish() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert refused.error.details() == f"busy: {MAX_SESSIONS} live sessions; retry in 5 s"
    assert ("retry-after-seconds", "5") in tuple(refused.error.trailing_metadata())
    assert stack.metric("gateway", "avatar_converse_sessions_refused_total") >= 1

    live[0].cancel()
    await live[0].finish()
    for _ in range(100):  # the gateway notices the cancel a moment later
        if stack.metric("gateway", "avatar_converse_sessions") < MAX_SESSIONS:
            break
        await asyncio.sleep(0.05)
    accepted = LiveSession(stub, _config(avatar_id))
    await accepted.wait_for(lambda s: len(s.ticks) >= 1, timeout=10)
    for session in (*live[1:], accepted):
        session.close()
        assert await session.finish() == grpc.StatusCode.OK


@pytest.mark.parametrize("config_first", [False, True], ids=["first", "after the config"])
async def test_bytes_that_are_no_message_end_the_session_with_invalid_argument(
    gateway, config_first
):
    stack, _, avatar_id = gateway
    messages = [b"\xff\xff\xff"]
    if config_first:
        messages.insert(0, _config(avatar_id).SerializeToString())

    async def requests():
        for message in messages:
            yield message
        await asyncio.Event().wait()  # keep the stream open

    async with stack.channel("gateway") as channel:
        converse = channel.stream_stream("/avatar.gateway.v1.GatewayService/Converse")
        with pytest.raises(grpc.aio.AioRpcError) as error:
            async for _ in converse(requests(), timeout=30):
                pass
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid protobuf message" in error.value.details()
