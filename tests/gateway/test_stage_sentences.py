"""The sentences stage alone: text split into sentences, or the LLM's answer cut as it streams."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from avatar.llm.v1 import llm_pb2
from avatar_gateway.clients import StageError
from avatar_gateway.conversations import ConversationTurn
from avatar_gateway.stages import SentenceStage
from avatar_gateway.stages.events import SentenceText
from tests.support.stage_harness import FakeLlm, StageHarness, wait_for


async def test_text_is_split_into_numbered_sentences_without_calling_the_llm():
    harness = StageHarness(plan_changes={"text": "Hello there. How are you? Fine, thanks."})
    outbox = harness.sink("sentences")
    await harness.run(SentenceStage(harness.context, outbox), outbox)
    assert outbox.items == [
        SentenceText(0, "Hello there.", from_llm=False),
        SentenceText(1, "How are you?", from_llm=False),
        SentenceText(2, "Fine, thanks.", from_llm=False),
    ]
    assert outbox.ended
    assert harness.llm.calls == 0
    assert harness.measurements.stage_seconds == {}


async def test_chat_cuts_the_llm_deltas_into_sentences_and_times_the_llm():
    llm = FakeLlm(["Sure", ". The sky", " is blue", ". Bye", " now"])
    history = (
        ConversationTurn("Hi!", "Hello."),
        ConversationTurn("Tell me a story.", "", interrupted=True),  # cut before a word
        ConversationTurn("", "Welcome back."),  # spoken unasked
    )
    harness = StageHarness(
        llm=llm,
        plan_changes={"chat": True, "text": "Why?", "conversation_id": "c-1", "history": history},
    )
    outbox = harness.sink("sentences")
    await harness.run(SentenceStage(harness.context, outbox), outbox)
    assert outbox.items == [
        SentenceText(0, "Sure.", from_llm=True),
        SentenceText(1, "The sky is blue.", from_llm=True),
        SentenceText(2, "Bye now", from_llm=True),
    ]
    [request] = llm.requests
    assert request.message == "Why?"
    user, assistant = llm_pb2.CHAT_ROLE_USER, llm_pb2.CHAT_ROLE_ASSISTANT
    assert [(m.role, m.text) for m in request.history] == [
        (user, "Hi!"),
        (assistant, "Hello."),
        (user, "Tell me a story."),
        (assistant, "Welcome back."),
    ]
    assert llm.timeouts == [30.0]
    assert list(harness.measurements.stage_seconds) == ["llm"]


async def test_a_finished_sentence_goes_on_while_the_llm_still_writes():
    # started, "Sure", ". The sky" sent; then the LLM stalls mid-answer.
    llm = FakeLlm(["Sure", ". The sky", " is blue."], hold_after=3)
    harness = StageHarness(llm=llm, plan_changes={"chat": True})
    outbox = harness.sink("sentences")
    run = await harness.start(SentenceStage(harness.context, outbox), outbox)
    await wait_for(llm.held)
    await asyncio.sleep(0)
    assert outbox.items == [SentenceText(0, "Sure.", from_llm=True)]
    await run.cancel()


async def test_a_failing_llm_raises_its_stage_error_and_ends_nothing():
    llm = FakeLlm(["Sure", ". The sky"], fail_after=2, code=grpc.StatusCode.UNAVAILABLE)
    harness = StageHarness(llm=llm, plan_changes={"chat": True})
    outbox = harness.sink("sentences")
    with pytest.raises(StageError) as caught:
        await harness.run(SentenceStage(harness.context, outbox), outbox)
    assert caught.value.stage == "llm"
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE
    assert not outbox.ended
    assert "llm" not in harness.measurements.stage_seconds


async def test_cancel_stops_the_stage_and_its_llm_call():
    llm = FakeLlm(["Sure"], hold_after=1)
    harness = StageHarness(llm=llm, plan_changes={"chat": True})
    outbox = harness.sink("sentences")
    stage = SentenceStage(harness.context, outbox)
    run = await harness.start(stage, outbox)
    await wait_for(llm.held)
    await run.cancel()
    assert run.task.cancelled()
    assert llm.cancelled == 1
    assert not outbox.ended
