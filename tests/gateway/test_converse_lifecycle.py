"""How Converse sessions end and what they leave: half-close, cancel, failures, history."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
import pytest_asyncio

from avatar.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from tests.reliability.harness import PHOTO, running_stack
from tests.support.converse_client import LiveSession

pytestmark = pytest.mark.asyncio(loop_scope="module")

LONG_TEXT = (
    "The river runs past the old mill and under the stone bridge. "
    "Children throw sticks from one side and race to see them on the other. "
    "In winter the water freezes and the mill wheel stands still until spring."
)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(tmp_path_factory):
    """The stack, a gateway stub and an avatar id."""
    stack_run = running_stack(tmp_path_factory.mktemp("converse"))
    async with stack_run as stack, stack.channel("gateway") as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        avatar = await stub.CreateAvatar(gateway_pb2.CreateAvatarRequest(image=PHOTO), timeout=60)
        yield stack, stub, avatar.avatar_id


def _config(avatar_id: str, **fields) -> gateway_pb2.ConverseConfig:
    return gateway_pb2.ConverseConfig(avatar_id=avatar_id, **fields)


async def _settled(condition, timeout: float = 5.0) -> bool:
    """Whether ``condition()`` holds within ``timeout`` seconds (polled)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return condition()


async def test_closing_the_stream_lets_the_turn_play_out_then_ends_ok(gateway):
    _, stub, avatar_id = gateway
    session = LiveSession(stub, _config(avatar_id))
    session.turn("Good morning. The coffee is ready.")
    session.close()
    assert await session.finish() == grpc.StatusCode.OK
    ended = session.turn_ended(1)
    assert ended.outcome == gateway_pb2.TURN_OUTCOME_DONE
    assert ended.summary.spoken_text == "Good morning. The coffee is ready."
    assert ended.end_frame == len(session.ticks)  # the last tick sent is the turn's last
    assert session.ticks[-1].turn == 1


async def test_cancelled_sessions_free_their_tasks_and_downstream_calls(gateway):
    stack, stub, avatar_id = gateway

    def downstream_in_flight() -> float:
        return sum(stack.calls_in_flight(service) for service in ("tts", "animator", "llm"))

    # One session first, so that every lazily made channel and task exists.
    warm = LiveSession(stub, _config(avatar_id))
    warm.turn("Hello.")
    warm.close()
    assert await warm.finish() == grpc.StatusCode.OK
    assert await _settled(lambda: downstream_in_flight() == 0)
    tasks_before = len(asyncio.all_tasks())

    for _ in range(3):
        sessions = [LiveSession(stub, _config(avatar_id)) for _ in range(6)]
        for session in sessions:
            session.turn(f"{LONG_TEXT} {LONG_TEXT}")
        for session in sessions:
            await session.wait_for(lambda s: any(t.turn == 1 for t in s.ticks))
        assert downstream_in_flight() > 0
        for session in sessions:
            session.cancel()
        for session in sessions:
            assert await session.finish() == grpc.StatusCode.CANCELLED
        assert await _settled(lambda: stack.metric("gateway", "avatar_converse_sessions") == 0)
        assert await _settled(lambda: downstream_in_flight() == 0), downstream_in_flight()
    assert await _settled(lambda: len(asyncio.all_tasks()) <= tasks_before), [
        task.get_name() for task in asyncio.all_tasks()
    ]


async def test_a_chat_session_remembers_what_was_played(gateway):
    stack, stub, avatar_id = gateway
    config = _config(avatar_id, mode=gateway_pb2.SPEAK_MODE_CHAT, conversation_id="live-1")
    session = LiveSession(stub, config)
    session.turn("Tell me about the river")
    first = await session.wait_for_turn_end(1)
    assert first.outcome == gateway_pb2.TURN_OUTCOME_DONE
    assert first.summary.spoken_text.startswith("You said: Tell me about the river.")
    assert {s.sentence.from_llm for s in session.of_kind("sentence")} == {True}
    # The second answer is interrupted while its first sentence plays.
    session.turn("And the mill")
    await session.wait_for(lambda s: any(e.turn == 2 for e in s.of_kind("sentence")))
    session.interrupt()
    second = await session.wait_for_turn_end(2)
    assert second.outcome == gateway_pb2.TURN_OUTCOME_INTERRUPTED
    assert second.summary.spoken_text == "You said: And the mill."
    session.turn("Thanks")
    await session.wait_for_turn_end(3)
    session.close()
    assert await session.finish() == grpc.StatusCode.OK

    # Each question reached the LLM with the turns before it as history: the questions
    # and exactly what the avatar said of each answer.
    messages = stack.fake_llm.requests[-1]["messages"]
    contents = [(m["role"], m["content"]) for m in messages if m["role"] != "system"]
    assert contents == [
        ("user", "Tell me about the river"),
        ("assistant", first.summary.spoken_text),
        ("user", "And the mill"),
        ("assistant", "You said: And the mill."),
        ("user", "Thanks"),
    ]


async def test_a_failed_downstream_call_fails_the_turn_and_the_session_goes_on(tmp_path):
    async with running_stack(tmp_path) as stack, stack.channel("gateway") as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        avatar = await stub.CreateAvatar(gateway_pb2.CreateAvatarRequest(image=PHOTO), timeout=60)
        session = LiveSession(stub, _config(avatar.avatar_id))
        await session.wait_for(lambda s: len(s.ticks) >= 3)
        await stack.servers["tts"].stop(grace=0)
        session.turn("Is anybody there.")
        ended = await session.wait_for_turn_end(1)
        ticks = len(session.ticks)
        await session.wait_for(lambda s: len(s.ticks) >= ticks + 5)
        session.close()
        assert await session.finish() == grpc.StatusCode.OK
    assert ended.outcome == gateway_pb2.TURN_OUTCOME_FAILED
    assert ended.error_code == "UNAVAILABLE"
    assert "tts" in ended.error_message
    assert {tick.turn for tick in session.ticks} == {0}
    assert stack.metric("gateway", "avatar_converse_turns_total", outcome="failed") == 1
    assert stack.metric("gateway", "avatar_errors_total", stage="tts", code="UNAVAILABLE") == 1


async def test_a_high_quality_session_idles_and_speaks_from_the_enhanced_still(gateway):
    stack, stub, avatar_id = gateway

    def enhance_calls() -> float:
        return stack.metric("enhancer", "grpc_server_handled_total", grpc_method="Enhance")

    before = enhance_calls()
    config = _config(avatar_id, quality=gateway_pb2.QUALITY_HIGH)
    session = LiveSession(stub, config)
    session.turn("Bright and clear.")
    session.close()
    assert await session.finish() == grpc.StatusCode.OK
    assert session.turn_ended(1).outcome == gateway_pb2.TURN_OUTCOME_DONE
    assert {tick.turn for tick in session.ticks} == {0, 1}
    # The OpenCV enhancer enhances the avatar's still once; the animator touches up the
    # moving regions of the idle loop's and the turn's frames itself.
    assert "enhancer" not in {s.stage for s in session.turn_ended(1).summary.stages}
    assert enhance_calls() - before == 1
    # A second session of the same avatar idles from the cache: no enhancer call.
    before = enhance_calls()
    again = LiveSession(stub, config)
    await again.wait_for(lambda s: len(s.ticks) >= 5)
    again.close()
    assert await again.finish() == grpc.StatusCode.OK
    assert enhance_calls() == before


async def test_a_voice_and_frame_rate_whose_slots_are_not_whole_keep_one_clock(gateway):
    _, stub, avatar_id = gateway
    session = LiveSession(stub, _config(avatar_id, voice="en-us", fps=24))
    session.turn("Hello there, how are you?")
    session.close()
    assert await session.finish() == grpc.StatusCode.OK
    rate, fps = session.started.sample_rate, session.started.fps
    assert (rate, fps) == (22050, 24.0)  # 918.75 samples a frame
    for k, tick in enumerate(session.ticks):
        assert tick.frame.index == k and tick.audio.sample_rate == rate
        assert tick.audio.sample_offset == round(k * rate / fps)
        assert len(tick.audio.pcm) // 2 == round((k + 1) * rate / fps) - round(k * rate / fps)
    ended = session.turn_ended(1)
    assert ended.outcome == gateway_pb2.TURN_OUTCOME_DONE
    assert ended.summary.audio_seconds == pytest.approx(ended.summary.frames / fps, abs=0.05)
