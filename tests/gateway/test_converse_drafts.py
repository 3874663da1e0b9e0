"""Drafts of a live session: the voice of the text being typed, made before its turn."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from avatar.gateway.v1 import gateway_pb2
from avatar.tts.v1 import tts_pb2
from avatar_gateway.metrics import GatewayMetrics
from tests.gateway.session_harness import SessionClient, clients_of, session_of
from tests.support.stage_harness import RATE, FakeTts


class _HoldingTts(FakeTts):
    """Holds every synthesis of the texts in ``held`` after its start, until cancelled."""

    def __init__(self, held: set[str], **options) -> None:
        super().__init__(**options)
        self.held_texts = held

    async def synthesize(self, request, timeout):
        if request.text not in self.held_texts:
            async for response in super().synthesize(request, timeout):
                yield response
            return
        self._begin(timeout)
        self._received(request)
        with self._call():
            yield tts_pb2.SynthesizeResponse(started=tts_pb2.SynthesisStarted(sample_rate=RATE))
            self.held.set()
            await asyncio.Event().wait()


class _Session:
    """A session over fakes, with the client, its metrics and its task."""

    def __init__(self, tts: FakeTts, chat_turns) -> None:
        self.client = SessionClient()
        self.registry = CollectorRegistry()
        metrics = GatewayMetrics(self.registry)
        clients = clients_of(tts=tts)
        self.task = asyncio.create_task(
            session_of(self.client, clients, chat_turns, metrics=metrics).run()
        )

    def drafts(self, outcome: str) -> float:
        value = self.registry.get_sample_value("avatar_converse_drafts_total", {"outcome": outcome})
        return value or 0.0

    async def close(self) -> None:
        self.client.inbox.put_nowait(None)
        await asyncio.wait_for(self.task, 10)


async def _until(condition, seconds: float = 5.0) -> None:
    """Waits until ``condition()`` holds, looking every 5 ms; fails after ``seconds``."""
    for _ in range(int(seconds / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"still not so after {seconds} s")


def _voice_heard(client: SessionClient, turn: int = 1) -> np.ndarray:
    """The turn's sound as the client got it, without its ticks of silence."""
    pcm = b"".join(e.audio.pcm for e in client.events if e.HasField("audio") and e.turn == turn)
    return np.trim_zeros(np.frombuffer(pcm, np.int16))


async def _typed_then_sent(
    tts: FakeTts, chat_turns, drafts: list[str], text: str, syntheses: int = 0
) -> _Session:
    """Sends ``drafts`` a key's time apart, waits for their ``syntheses``, then ``text``."""
    session = _Session(tts, chat_turns)
    for draft in drafts:
        session.client.draft(draft)
        await asyncio.sleep(0.01)
    await _until(lambda: tts.calls == syntheses)
    session.client.turn(text)
    await session.client.wait_for(lambda: session.client.ended())
    await session.close()
    return session


async def _drafted_and_held(chat_turns, text: str) -> tuple[_HoldingTts, _Session]:
    """A session whose draft of ``text`` is being synthesised, and is held there."""
    tts = _HoldingTts({text})
    session = _Session(tts, chat_turns)
    session.client.draft(text)
    await asyncio.wait_for(tts.held.wait(), 5)
    return tts, session


async def test_a_turn_plays_the_voice_its_draft_made_while_typed(chat_turns):
    tts = FakeTts()
    typed = ["Hel", "Hello there.", "Hello there. How", "Hello there. How are you"]
    session = await _typed_then_sent(tts, chat_turns, typed, "Hello there. How are you", 2)

    # One synthesis per first sentence typed; the turn asks only for its second.
    assert [r.text for r in tts.requests] == ["Hel", "Hello there.", "How are you"]
    (ended,) = session.client.ended()
    assert ended.outcome == gateway_pb2.TURN_OUTCOME_DONE
    assert ended.summary.sentences == 2
    assert session.drafts("used") == 1 and session.drafts("unused") == 1

    # What it plays is what the voice would have made for the turn itself.
    untyped = await _typed_then_sent(FakeTts(), chat_turns, [], "Hello there. How are you")
    heard = _voice_heard(session.client)
    assert heard.size > 0
    np.testing.assert_array_equal(heard, _voice_heard(untyped.client))


async def test_a_turn_that_does_not_start_with_the_draft_drops_it(chat_turns):
    tts, session = await _drafted_and_held(chat_turns, "Good morning.")
    session.client.turn("Good evening.")
    await session.client.wait_for(lambda: session.client.ended())
    await session.close()

    assert tts.cancelled == 1  # the draft's synthesis
    assert [r.text for r in tts.requests] == ["Good morning.", "Good evening."]
    (ended,) = session.client.ended()
    assert ended.outcome == gateway_pb2.TURN_OUTCOME_DONE and ended.summary.audio_seconds > 0
    assert session.drafts("used") == 0 and session.drafts("unused") == 1


async def test_stopping_a_turn_cancels_the_drafts_synthesis_it_took(chat_turns):
    tts, session = await _drafted_and_held(chat_turns, "Good morning.")
    session.client.turn("Good morning.")
    await _until(lambda: any(e.HasField("turn_started") for e in session.client.events))
    session.client.interrupt()
    await session.client.wait_for(lambda: session.client.ended())
    await _until(lambda: tts.cancelled == 1)
    await session.close()

    assert tts.calls == 1  # the turn took the draft's call and made none of its own
    (ended,) = session.client.ended()
    assert ended.outcome == gateway_pb2.TURN_OUTCOME_INTERRUPTED
    assert session.drafts("used") == 1


async def test_a_draft_that_failed_before_any_sound_leaves_its_turn_to_the_voice(chat_turns):
    tts = FakeTts(fail_after=0)
    session = _Session(tts, chat_turns)
    session.client.draft("Good morning.")
    await _until(lambda: tts.calls == 1)
    await asyncio.sleep(0.02)
    tts.fail_after = None
    session.client.turn("Good morning.")
    await session.client.wait_for(lambda: session.client.ended())
    await session.close()

    assert tts.calls == 2
    (ended,) = session.client.ended()
    assert ended.outcome == gateway_pb2.TURN_OUTCOME_DONE and ended.summary.audio_seconds > 0


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("Tell me a story.", gateway_pb2.SPEAK_MODE_CHAT),  # its turn asks the LLM
        ("How are you?", gateway_pb2.SPEAK_MODE_AUTO),  # a question: the LLM too
        ("   ", gateway_pb2.SPEAK_MODE_UNSPECIFIED),  # its turn would be refused
        ("?!", gateway_pb2.SPEAK_MODE_UNSPECIFIED),
        ("x" * 201, gateway_pb2.SPEAK_MODE_UNSPECIFIED),  # longer than the session allows
        ("Hello.", 99),  # no such mode
    ],
)
async def test_a_draft_its_turn_would_not_speak_is_not_synthesised(chat_turns, text, mode):
    tts = FakeTts()
    session = _Session(tts, chat_turns)
    session.client.draft("Good morning.")
    await _until(lambda: tts.calls == 1)
    session.client.draft(text, mode)
    session.client.draft("Good morning.")  # the one before was dropped: made anew
    await _until(lambda: tts.calls == 2)
    await asyncio.sleep(0.02)
    await session.close()

    assert [r.text for r in tts.requests] == ["Good morning.", "Good morning."]
    assert session.drafts("unused") == 2


async def test_a_draft_in_auto_mode_that_is_no_question_is_synthesised(chat_turns):
    tts = FakeTts()
    session = _Session(tts, chat_turns)
    session.client.draft("Good morning. Nice day", gateway_pb2.SPEAK_MODE_AUTO)
    await _until(lambda: tts.calls == 1)
    await session.close()
    assert [r.text for r in tts.requests] == ["Good morning."]


async def test_the_end_of_the_session_cancels_a_draft_in_flight(chat_turns):
    tts, session = await _drafted_and_held(chat_turns, "Good morning.")
    await session.close()
    await _until(lambda: tts.cancelled == 1)
    assert session.drafts("unused") == 1
