"""What a session does with what the asr heard, with a fake session: barge-ins, held
starts, echo, turns from transcripts, errors."""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
from prometheus_client import CollectorRegistry

from avatar.asr.v1 import asr_pb2
from avatar.gateway.v1 import gateway_pb2
from avatar_gateway.clients import StageError
from avatar_gateway.converse.echo import EchoGuard
from avatar_gateway.converse.listen import (
    HeardEvent,
    ListenerFailed,
    ListenSettings,
    VoiceInput,
    VoiceProblem,
)
from avatar_gateway.converse.voice import VoiceTurns
from avatar_gateway.metrics import GatewayMetrics

KIND = gateway_pb2.UserSpeechKind


@dataclass
class FakeSession:
    """Records what speech turns ask of their session."""

    turn_in_progress: bool = False
    next_turn_number: int = 1
    sent: list[gateway_pb2.ConverseResponse] = field(default_factory=list)
    stopped: int = 0
    turns: list[str] = field(default_factory=list)

    async def send_event(self, event, *, turn):
        event.turn = turn
        self.sent.append(event)

    async def stop_turn(self, received_at):
        self.stopped += 1
        self.turn_in_progress = False

    async def speech_turn(self, text, received_at, speech_ended_at):
        self.turns.append(text)
        self.next_turn_number += 1


class FakeListener:
    serial = 1

    def arrival_of(self, seconds):
        return 0.0


class Clock:
    now = 100.0

    def __call__(self):
        return self.now


def _voice(barge_in: bool = True, playing: bool = False, loud: bool = False):
    clock = Clock()
    echo = EchoGuard(clock)
    if loud:
        echo.note_output(0.1)
    session = FakeSession(turn_in_progress=playing)
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)
    voice = VoiceInput(ListenSettings(barge_in=barge_in), None, echo, lambda item: None)
    return VoiceTurns(voice, echo, metrics, session), session, echo, registry


def _heard(**event) -> HeardEvent:
    return HeardEvent(FakeListener(), asr_pb2.TranscribeResponse(**event))


def _start(utterance: int = 0, at: float = 1.0) -> HeardEvent:
    return _heard(speech_started=asr_pb2.SpeechStarted(utterance=utterance, time_seconds=at))


def _final(text: str, utterance: int = 0) -> HeardEvent:
    return _heard(final=asr_pb2.Transcript(utterance=utterance, text=text))


def _speech(session: FakeSession) -> list[gateway_pb2.UserSpeech]:
    return [event.user_speech for event in session.sent]


async def test_speech_while_the_avatar_is_quiet_barges_in_and_its_transcript_is_a_turn():
    turns, session, _, registry = _voice(playing=True)
    await turns.handle(_start(), 0.0)
    await turns.handle(_final(" Rice is often served. "), 0.0)
    started, final = _speech(session)
    assert (started.kind, started.barge_in, started.echo) == (
        KIND.Value("USER_SPEECH_KIND_STARTED"),
        True,
        False,
    )
    assert session.stopped == 1
    assert registry.get_sample_value("avatar_converse_voice_barge_ins_total") == 1
    assert (final.kind, final.text, final.turn) == (
        KIND.Value("USER_SPEECH_KIND_FINAL"),
        "Rice is often served.",
        1,
    )
    assert session.sent[-1].turn == 1 and session.turns == ["Rice is often served."]


async def test_a_start_under_loud_output_is_held_and_echo_becomes_no_turn():
    turns, session, echo, registry = _voice(playing=True, loud=True)
    echo.note_spoken("Glue the sheet to the dark blue background.")
    await turns.handle(_start(), 0.0)
    await turns.handle(_final("glue the sheet to the dark blue"), 0.0)
    started, final = _speech(session)
    assert (started.barge_in, started.echo) == (False, True)
    assert session.stopped == 0
    assert final.echo and final.turn == 0 and session.turns == []
    assert registry.get_sample_value("avatar_converse_speech_ignored_as_echo_total") == 1


async def test_a_held_start_whose_words_are_not_the_avatars_becomes_a_turn():
    turns, session, echo, _ = _voice(playing=True, loud=True)
    echo.note_spoken("Glue the sheet to the dark blue background.")
    await turns.handle(_start(), 0.0)
    await turns.handle(_final("What time is it?"), 0.0)
    assert session.stopped == 0  # the new turn itself stops the playing one
    assert session.turns == ["What time is it?"] and not _speech(session)[1].echo


async def test_without_barge_in_a_start_stops_nothing_but_the_transcript_is_a_turn():
    turns, session, _, _ = _voice(barge_in=False, playing=True)
    await turns.handle(_start(), 0.0)
    await turns.handle(_final("Stop please."), 0.0)
    assert session.stopped == 0 and not _speech(session)[0].barge_in
    assert session.turns == ["Stop please."]


async def test_a_transcript_without_words_becomes_no_turn():
    turns, session, _, _ = _voice()
    await turns.handle(_start(), 0.0)
    await turns.handle(_final(" ... "), 0.0)
    assert session.turns == [] and _speech(session)[1].turn == 0


async def test_utterances_are_numbered_across_the_session():
    turns, session, _, _ = _voice()
    for index in range(2):
        await turns.handle(_start(index), 0.0)
        await turns.handle(_final(f"Word {index}.", index), 0.0)
    assert [s.utterance for s in _speech(session)] == [0, 0, 1, 1]


async def test_failures_become_error_events_and_other_items_are_left_alone():
    turns, session, _, registry = _voice()
    failure = StageError("asr", grpc.StatusCode.UNAVAILABLE, "asr service unavailable: refused")
    assert await turns.handle(ListenerFailed(FakeListener(), failure), 0.0)
    assert await turns.handle(VoiceProblem(grpc.StatusCode.INVALID_ARGUMENT, "odd bytes"), 0.0)
    assert not await turns.handle(gateway_pb2.ConverseRequest(), 0.0)
    errors = _speech(session)
    assert [(e.kind, e.error_code) for e in errors] == [
        (KIND.Value("USER_SPEECH_KIND_ERROR"), "UNAVAILABLE"),
        (KIND.Value("USER_SPEECH_KIND_ERROR"), "INVALID_ARGUMENT"),
    ]
    assert errors[0].error_message == "asr stage: asr service unavailable: refused"
    errors_total = registry.get_sample_value(
        "avatar_errors_total", {"stage": "asr", "code": "UNAVAILABLE"}
    )
    assert errors_total == 1


def _final_at(text: str, utterance: int, start: float, end: float) -> HeardEvent:
    transcript = asr_pb2.Transcript(
        utterance=utterance, text=text, start_seconds=start, end_seconds=end
    )
    return _heard(final=transcript)


async def test_speech_resumed_soon_after_a_pause_goes_on_with_the_turn_it_started():
    turns, session, _, registry = _voice()
    await turns.handle(_start(0, at=1.0), 0.0)
    await turns.handle(_final_at("It snowed, rained,", 0, 1.0, 2.0), 0.0)
    session.turn_in_progress = True  # its answer is being prepared
    await turns.handle(_start(1, at=2.6), 0.0)
    await turns.handle(_final_at("and hailed the same morning.", 1, 2.6, 4.0), 0.0)
    assert session.stopped == 1
    assert session.turns == [
        "It snowed, rained,",
        "It snowed, rained, and hailed the same morning.",
    ]
    final = _speech(session)[-1]
    assert (final.text, final.turn) == ("It snowed, rained, and hailed the same morning.", 2)
    assert registry.get_sample_value("avatar_converse_voice_barge_ins_total") == 1


async def test_speech_after_a_longer_pause_or_another_turn_is_a_turn_of_its_own():
    turns, session, _, _ = _voice()
    await turns.handle(_start(0, at=1.0), 0.0)
    await turns.handle(_final_at("Rice is often served.", 0, 1.0, 2.0), 0.0)
    session.turn_in_progress = True
    await turns.handle(_start(1, at=3.5), 0.0)  # 1.5 s later: something new
    await turns.handle(_final_at("In round bowls?", 1, 3.5, 4.5), 0.0)
    assert session.turns[-1] == "In round bowls?"
    session.turn_in_progress = True
    session.next_turn_number += 1  # a text turn came in between
    await turns.handle(_start(2, at=4.8), 0.0)
    await turns.handle(_final_at("Yes.", 2, 4.8, 5.0), 0.0)
    assert session.turns[-1] == "Yes."
    # With nothing in progress (the answer ended) a quick start is new speech too.
    session.turn_in_progress = False
    await turns.handle(_start(3, at=5.2), 0.0)
    await turns.handle(_final_at("Thanks.", 3, 5.2, 5.6), 0.0)
    assert session.turns[-1] == "Thanks."


async def test_a_resumed_utterance_that_says_nothing_still_gets_the_turn_answered():
    turns, session, _, _ = _voice()
    await turns.handle(_start(0, at=1.0), 0.0)
    await turns.handle(_final_at("What time is it?", 0, 1.0, 2.0), 0.0)
    session.turn_in_progress = True
    await turns.handle(_start(1, at=2.4), 0.0)  # a cough
    await turns.handle(_final_at("", 1, 2.4, 2.6), 0.0)
    assert session.turns == ["What time is it?", "What time is it?"]
