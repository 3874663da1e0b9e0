"""Converse takes speech turns through the asr service, with the plain generated stub.

The in-process stack runs the asr service too; the tts service renders what the user
says, and the test streams it as microphone audio paced in real time (silence around
it) into the session. The fake model behind the llm service echoes what it was told
(or tells a long story when asked for one).
"""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest
import pytest_asyncio

from avatar.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from avatar.tts.v1 import tts_pb2_grpc
from tests.asr.speech import render, word_error_rate
from tests.reliability.harness import PHOTO, running_stack
from tests.support.converse_client import LiveSession, Microphone
from tests.support.replies import STORY, story_or_echo

pytestmark = pytest.mark.asyncio(loop_scope="module")

QUESTION = "Can you tell me about the dark blue sea?"
STORY_REQUEST = "Please tell me a long story."
INTERRUPTION = "Rice is often served in round bowls."
SPEECH = gateway_pb2


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory):
    """The stack with asr, an avatar, and the tts stub to render speech with."""
    async with running_stack(
        tmp_path_factory.mktemp("speech"), with_asr=True, llm_reply=story_or_echo
    ) as stack:
        async with stack.channel("gateway") as channel:
            stub = gateway_pb2_grpc.GatewayServiceStub(channel)
            avatar = await stub.CreateAvatar(
                gateway_pb2.CreateAvatarRequest(image=PHOTO), timeout=60
            )
        yield stack, avatar.avatar_id


async def _speech(stack, text: str, gain: float = 1.0) -> tuple[bytes, int]:
    async with stack.channel("tts") as channel:
        speech = await render(tts_pb2_grpc.TtsServiceStub(channel), text)
    samples = np.clip(speech.samples.astype(np.float32) * gain, -32768, 32767)
    return samples.astype("<i2").tobytes(), speech.sample_rate


async def _settled(condition, timeout: float = 5.0) -> bool:
    """Whether ``condition()`` holds within ``timeout`` seconds (polled)."""
    for _ in range(int(timeout / 0.05)):
        if condition():
            return True
        await asyncio.sleep(0.05)
    return condition()


def _finals(session: LiveSession) -> list[gateway_pb2.UserSpeech]:
    return session.speech(gateway_pb2.USER_SPEECH_KIND_FINAL)


async def test_a_spoken_question_is_transcribed_and_answered(stack):
    stack, avatar_id = stack
    pcm, rate = await _speech(stack, QUESTION)
    before = stack.metric("gateway", "avatar_converse_end_of_speech_to_first_audio_seconds_count")
    async with stack.channel("gateway") as channel:
        session = LiveSession(
            gateway_pb2_grpc.GatewayServiceStub(channel),
            gateway_pb2.ConverseConfig(
                avatar_id=avatar_id,
                listen=gateway_pb2.ConverseListen(language="en", interim_results=True),
            ),
        )
        microphone = Microphone(session, rate)
        await session.wait_for(lambda s: len(s.ticks) >= 5)
        microphone.start()
        await asyncio.sleep(0.5)
        await microphone.say(pcm)
        await session.wait_for(lambda s: len(_finals(s)) >= 1, timeout=30)
        ended = await session.wait_for_turn_end(1)
        await microphone.stop()
        session.close()
        await session.finish()
    # The session's asr stream ended with it.
    assert await _settled(lambda: stack.calls_in_flight("asr") == 0)

    # Started, partial transcripts while the speech goes on, ended, final.
    heard = session.speech()
    partials = [e for e in heard if e.kind == gateway_pb2.USER_SPEECH_KIND_PARTIAL]
    started, speech_ended, final = (e for e in heard if e not in partials)
    assert [e.kind for e in (started, speech_ended, final)] == [
        gateway_pb2.USER_SPEECH_KIND_STARTED,
        gateway_pb2.USER_SPEECH_KIND_ENDED,
        gateway_pb2.USER_SPEECH_KIND_FINAL,
    ]
    # Partials are the asr's best effort (skipped while it is busy); any come first.
    assert all(heard.index(p) < heard.index(speech_ended) for p in partials)
    assert all(p.text and QUESTION.lower().startswith(p.text.lower()[:3]) for p in partials)
    assert not started.barge_in and not started.echo  # nothing was playing
    assert word_error_rate(QUESTION, final.text) <= 0.1, final.text
    assert started.start_seconds < speech_ended.start_seconds <= final.end_seconds + 0.3
    assert final.turn == 1
    # The transcript shows as the user's message, then becomes a chat turn.
    events = [e for e in session.events if e.WhichOneof("event") in ("user_speech", "turn_started")]
    final_at = next(
        i for i, e in enumerate(events) if e.user_speech.kind == SPEECH.USER_SPEECH_KIND_FINAL
    )
    turn_started = events[final_at + 1]
    assert turn_started.turn == 1 and turn_started.turn_started.from_speech
    assert turn_started.turn_started.text == final.text
    assert turn_started.turn_started.mode == gateway_pb2.SPEAK_MODE_CHAT
    assert stack.fake_llm.requests[-1]["messages"][-1]["content"] == final.text
    # The answer played to its end.
    assert ended.outcome == gateway_pb2.TURN_OUTCOME_DONE
    assert ended.summary.spoken_text.startswith("You said:")
    assert sum(tick.turn == 1 for tick in session.ticks) == ended.end_frame - ended.start_frame
    metric = stack.metric
    assert metric("gateway", "avatar_converse_end_of_speech_to_final_seconds_count") >= 1
    after = metric("gateway", "avatar_converse_end_of_speech_to_first_audio_seconds_count")
    assert after == before + 1


async def test_speech_over_a_long_answer_interrupts_it_and_is_answered(stack):
    stack, avatar_id = stack
    request, rate = await _speech(stack, STORY_REQUEST)
    interruption, _ = await _speech(stack, INTERRUPTION)
    barge_ins = stack.metric("gateway", "avatar_converse_voice_barge_ins_total")
    async with stack.channel("gateway") as channel:
        session = LiveSession(
            gateway_pb2_grpc.GatewayServiceStub(channel),
            gateway_pb2.ConverseConfig(avatar_id=avatar_id),
        )
        microphone = Microphone(session, rate)
        await session.wait_for(lambda s: len(s.ticks) >= 5)
        microphone.start()
        await asyncio.sleep(0.3)
        await microphone.say(request)
        # Two seconds into the story, the user speaks over it.
        await session.wait_for(lambda s: sum(t.turn == 1 for t in s.ticks) >= 50, timeout=30)
        await microphone.say(interruption)
        first = await session.wait_for_turn_end(1)
        second = await session.wait_for_turn_end(2)
        await microphone.stop()
        session.close()
        await session.finish()

    assert first.outcome == gateway_pb2.TURN_OUTCOME_INTERRUPTED
    assert STORY.startswith(first.summary.spoken_text.rstrip("."))
    # The second utterance's start stopped the story, before its words were transcribed.
    starts = session.speech(gateway_pb2.USER_SPEECH_KIND_STARTED)
    assert [(s.barge_in, s.echo) for s in starts] == [(False, False), (True, False)]
    kinds = [e.WhichOneof("event") for e in session.events]
    speech_events = [i for i, kind in enumerate(kinds) if kind == "user_speech"]
    stopped_at = next(
        i
        for i, e in enumerate(session.events)
        if e.turn_ended.client_turn_id == ""
        and e.turn == 1
        and e.WhichOneof("event") == "turn_ended"
    )
    second_final = [
        i
        for i in speech_events
        if session.events[i].user_speech.kind == gateway_pb2.USER_SPEECH_KIND_FINAL
    ][1]
    assert stopped_at < second_final
    # ...and its transcript became the next turn, answered to its end.
    finals = _finals(session)
    assert [final.turn for final in finals] == [1, 2]
    assert word_error_rate(INTERRUPTION, finals[1].text) <= 0.1, finals[1].text
    assert second.outcome == gateway_pb2.TURN_OUTCOME_DONE
    assert second.summary.spoken_text.startswith("You said:")
    assert stack.metric("gateway", "avatar_converse_voice_barge_ins_total") == barge_ins + 1


async def test_the_avatars_own_voice_coming_back_does_not_interrupt_it(stack):
    stack, avatar_id = stack
    text = "Glue the sheet to the dark blue background. The juice of lemons makes fine punch."
    barge_ins = stack.metric("gateway", "avatar_converse_voice_barge_ins_total")
    async with stack.channel("gateway") as channel:
        session = LiveSession(
            gateway_pb2_grpc.GatewayServiceStub(channel),
            gateway_pb2.ConverseConfig(avatar_id=avatar_id, mode=gateway_pb2.SPEAK_MODE_SPEAK),
        )
        echo = asyncio.create_task(_echo(session))
        await session.wait_for(lambda s: len(s.ticks) >= 5)
        session.turn(text)
        ended = await session.wait_for_turn_end(1)
        # The echo's own utterance ends after the avatar stops; its final comes then.
        await session.wait_for(lambda s: any(f.echo for f in _finals(s)), timeout=20)
        await asyncio.sleep(0.5)
        echo.cancel()
        session.close()
        await session.finish()

    assert ended.outcome == gateway_pb2.TURN_OUTCOME_DONE
    assert ended.summary.spoken_text == text
    starts = session.speech(gateway_pb2.USER_SPEECH_KIND_STARTED)
    assert starts and all(s.echo and not s.barge_in for s in starts)
    assert all(final.turn == 0 for final in _finals(session))
    assert [e.turn for e in session.of_kind("turn_started")] == [1]
    assert stack.metric("gateway", "avatar_converse_voice_barge_ins_total") == barge_ins
    assert stack.metric("gateway", "avatar_converse_speech_ignored_as_echo_total") >= 1


async def _echo(session: LiveSession) -> None:
    """Sends every tick's audio back as the microphone, as soon as it arrives."""
    sent = 0
    while True:
        await session.wait_for(lambda s, sent=sent: len(s.ticks) > sent)
        for tick in session.ticks[sent:]:
            session.send(gateway_pb2.ConverseRequest(audio=tick.audio))
        sent = len(session.ticks)


async def test_speech_sent_before_the_stream_closes_is_still_answered(stack):
    stack, avatar_id = stack
    pcm, rate = await _speech(stack, INTERRUPTION)
    async with stack.channel("gateway") as channel:
        session = LiveSession(
            gateway_pb2_grpc.GatewayServiceStub(channel),
            gateway_pb2.ConverseConfig(avatar_id=avatar_id),
        )
        microphone = Microphone(session, rate)
        await session.wait_for(lambda s: len(s.ticks) >= 5)
        microphone.start()
        await microphone.say(pcm)
        await microphone.stop()
        session.close()  # right after the last word: the speech has not ended yet
        assert await session.finish() == grpc.StatusCode.OK

    (final,) = _finals(session)
    assert word_error_rate(INTERRUPTION, final.text) <= 0.1, final.text
    ended = session.turn_ended(1)
    assert ended is not None and ended.outcome == gateway_pb2.TURN_OUTCOME_DONE
    assert session.ticks[-1].turn == 1  # the session ended with the answer
