"""Speech turns of a live session: what the asr heard becomes events, barge-ins and turns.

:class:`VoiceTurns` acts, on the session loop, on what :mod:`.listen` posts:

- **speech started**: while a turn is in progress, it is stopped at once (voice
  barge-in) unless barge-in is off or the echo rule of :mod:`.echo` holds the start;
  a ``UserSpeech`` STARTED says which;
- **speech ended**: a ``UserSpeech`` ENDED; the moment its last sound arrived is kept
  for the metrics;
- **partial**: a ``UserSpeech`` PARTIAL;
- **final**: a ``UserSpeech`` FINAL, then, unless it is empty or the echo of the
  avatar's own words, a turn with the transcript as its text in the session's speech
  mode (it stops the turn that plays, as a text turn does);
- **a resumed utterance**: speech that starts within :data:`RESUME_SECONDS` of the end of
  the utterance whose turn is still in progress is the same person going on after a
  pause longer than the end-of-speech silence: it stops that turn (a barge-in) and its
  transcript is joined to the one before, so the next turn answers all of it;
- **failures** (bad audio, no asr, the asr stream failing): a ``UserSpeech`` ERROR
  with the status code and words; the session goes on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from avatar.gateway.v1 import gateway_pb2
from avatar_gateway.converse.echo import EchoGuard
from avatar_gateway.converse.listen import (
    HeardEvent,
    ListenerFailed,
    SpeechListener,
    VoiceInput,
    VoiceProblem,
)
from avatar_gateway.metrics import GatewayMetrics

RESUME_SECONDS = 1.0
"""Speech that starts this soon (microphone time) after the end of the utterance that
started the turn in progress goes on with that utterance: a pause inside what someone says
can be longer than the end-of-speech silence, which is kept short for a quick answer."""


class SessionControls(Protocol):
    """What speech turns need of their session."""

    @property
    def turn_in_progress(self) -> bool:
        """Whether a turn is being prepared or played."""

    @property
    def next_turn_number(self) -> int:
        """The number the next turn will get."""

    async def send_event(self, event: gateway_pb2.ConverseResponse, *, turn: int) -> None:
        """Sends an event to the client."""

    async def stop_turn(self, received_at: float) -> None:
        """Stops the turn in progress, if any."""

    async def speech_turn(
        self, text: str, received_at: float, speech_ended_at: float | None
    ) -> None:
        """Starts a turn from a final transcript."""


@dataclass(slots=True)
class _Utterance:
    number: int
    started_seconds: float = 0.0
    held: bool = False
    ended_at: float | None = None
    resumes: str = ""  # the transcript of the utterance this one goes on with


@dataclass(frozen=True, slots=True)
class _SpeechTurn:
    """The turn a final transcript started, and where on the microphone its speech ended."""

    listener: int
    turn: int
    text: str
    end_seconds: float


class VoiceTurns:
    """Turns the asr's events of one session into its events and turns.

    Args:
        voice: The session's microphone input.
        echo: The echo rule's measurements.
        metrics: The gateway's metrics.
        session: The session.
    """

    def __init__(
        self,
        voice: VoiceInput,
        echo: EchoGuard,
        metrics: GatewayMetrics,
        session: SessionControls,
    ) -> None:
        self._voice = voice
        self._echo = echo
        self._metrics = metrics
        self._session = session
        self._utterances: dict[tuple[int, int], _Utterance] = {}
        self._count = 0
        self._last_turn: _SpeechTurn | None = None

    async def handle(self, item: object, received_at: float) -> bool:
        """Acts on one item of the inbox; False when it is not a speech item."""
        if isinstance(item, HeardEvent):
            await self._heard(item.listener, item.response, received_at)
        elif isinstance(item, ListenerFailed):
            self._voice.failed(item.listener)
            error = item.error
            self._metrics.errors.labels(error.stage, error.code.name).inc()
            await self._error(error.code.name, str(error))
        elif isinstance(item, VoiceProblem):
            await self._error(item.code.name, item.message)
        else:
            return False
        return True

    async def _heard(self, listener: SpeechListener, response, received_at: float) -> None:
        kind = response.WhichOneof("event")
        if kind == "speech_started":
            await self._started(listener, response.speech_started, received_at)
        elif kind == "speech_ended":
            ended = response.speech_ended
            utterance = self._utterance(listener, ended.utterance)
            utterance.ended_at = listener.arrival_of(ended.time_seconds)
            self._echo.note_speech(utterance.started_seconds, ended.time_seconds)
            await self._send(
                gateway_pb2.UserSpeech(
                    kind=gateway_pb2.USER_SPEECH_KIND_ENDED,
                    utterance=utterance.number,
                    start_seconds=ended.time_seconds,
                )
            )
        elif kind == "partial":
            partial = response.partial
            await self._send(
                gateway_pb2.UserSpeech(
                    kind=gateway_pb2.USER_SPEECH_KIND_PARTIAL,
                    utterance=self._utterance(listener, partial.utterance).number,
                    text=partial.text.strip(),
                    start_seconds=partial.start_seconds,
                    end_seconds=partial.end_seconds,
                )
            )
        elif kind == "final":
            await self._final(listener, response.final, received_at)

    async def _started(self, listener: SpeechListener, started, received_at: float) -> None:
        utterance = self._utterance(listener, started.utterance)
        utterance.started_seconds = started.time_seconds
        self._echo.note_speech(started.time_seconds)
        barge_in = False
        if self._session.turn_in_progress and self._voice.settings.barge_in:
            if self._echo.start_stops_avatar(started.time_seconds):
                barge_in = True
                utterance.resumes = self._resumed_text(listener, started.time_seconds)
            else:
                utterance.held = True
        if barge_in:
            await self._session.stop_turn(received_at)
            self._metrics.converse_voice_barge_ins.inc()
        await self._send(
            gateway_pb2.UserSpeech(
                kind=gateway_pb2.USER_SPEECH_KIND_STARTED,
                utterance=utterance.number,
                start_seconds=started.time_seconds,
                barge_in=barge_in,
                echo=utterance.held,
            )
        )

    def _resumed_text(self, listener: SpeechListener, start_seconds: float) -> str:
        """The transcript that speech starting now goes on with, or "" when it is new."""
        last = self._last_turn
        if last is None or last.listener != listener.serial:
            return ""
        if last.turn != self._session.next_turn_number - 1:  # another turn came since
            return ""
        return last.text if start_seconds - last.end_seconds <= RESUME_SECONDS else ""

    async def _final(self, listener: SpeechListener, final, received_at: float) -> None:
        utterance = self._utterances.pop((listener.serial, final.utterance), None)
        if utterance is None:  # a final without its start (not sent by the asr service)
            utterance = _Utterance(self._next_number())
        text = " ".join(f"{utterance.resumes} {final.text}".split())
        event = gateway_pb2.UserSpeech(
            kind=gateway_pb2.USER_SPEECH_KIND_FINAL,
            utterance=utterance.number,
            text=text,
            start_seconds=final.start_seconds,
            end_seconds=final.end_seconds,
        )
        if utterance.ended_at is not None:
            self._metrics.converse_end_of_speech_to_final.observe(
                time.perf_counter() - utterance.ended_at
            )
        if utterance.held and self._echo.is_echo(text):
            self._metrics.converse_echo_ignored.inc()
            event.echo = True
            await self._send(event)
            return
        if not any(char.isalnum() for char in text):
            await self._send(event)
            return
        event.turn = self._session.next_turn_number
        self._last_turn = _SpeechTurn(listener.serial, event.turn, text, final.end_seconds)
        await self._send(event, turn=event.turn)
        await self._session.speech_turn(text, received_at, utterance.ended_at)

    async def _error(self, code: str, message: str) -> None:
        await self._send(
            gateway_pb2.UserSpeech(
                kind=gateway_pb2.USER_SPEECH_KIND_ERROR, error_code=code, error_message=message
            )
        )

    def _utterance(self, listener: SpeechListener, index: int) -> _Utterance:
        key = (listener.serial, index)
        utterance = self._utterances.get(key)
        if utterance is None:
            utterance = self._utterances[key] = _Utterance(self._next_number())
        return utterance

    def _next_number(self) -> int:
        number = self._count
        self._count += 1
        return number

    async def _send(self, speech: gateway_pb2.UserSpeech, *, turn: int = 0) -> None:
        await self._session.send_event(gateway_pb2.ConverseResponse(user_speech=speech), turn=turn)
