"""A live session: one clock, the idle loop while no turn plays, each turn's speech.

The session runs two tasks: a reader that takes the client's messages as they come,
and the session's own loop, which sends one tick per frame on the session clock
(:mod:`.clock`) and handles each message between ticks:

- a **turn** (valid) stops the turn that is playing, if any, and starts its own
  pipeline with its speech placed where it will play: the next tick still to send
  plus :data:`START_FRAMES`. Speech begins at the first tick from there on when its
  first audio is in hand. A turn's audio and its pictures go out apart: the audio of
  each tick as soon as it is in hand, the first at once (after the silence of the idle
  ticks still to send before it, whose pictures follow alone on time) and the rest up to
  :data:`AUDIO_AHEAD_SECONDS` before their time (the voice makes whole sentences, so a
  client holds that much speech and can start it at once and play it without a gap),
  and each picture up to :data:`SPEECH_AHEAD_SECONDS` before its time when the
  animator has drawn it. A picture still not drawn :data:`PICTURE_WAIT_SECONDS` past
  its time gives way to the turn's last picture (the idle frame before its first) and
  is dropped when it comes: the sound goes on, and the pictures stay on its clock.
  Until the speech begins the idle loop plays. A turn that fails validation ends
  FAILED at once and leaves the playing turn alone;
- an **interrupt** stops the turn that is playing;
- a **draft** (the text being typed) has its first sentence synthesised now, for the
  next turn to take when it starts with that sentence (:mod:`.draft`);
- the end of the client's stream lets the playing turn finish (and the speech sent be
  transcribed, its final becoming a turn), then ends the session;
- **audio** of the user's microphone goes, from the reader, to the asr service
  (:mod:`.listen`); what it hears comes back through the inbox and becomes speech
  events, voice barge-ins and turns (:mod:`.voice`).

Stopping a turn ends it INTERRUPTED at once, cancels its pipeline and drops its
buffered media; the very next tick is idle (mouth closed), sent without waiting for
its time. Its audio sent ahead of its pictures is taken back: the turn ends at the
first tick whose picture was not sent (``TurnEnded.end_frame``), and silence for the
same sample offsets goes at once, right after ``TurnEnded``, which replaces that audio
(a client keeps, for each sample offset, the audio that came last); the idle ticks of
those offsets then bring their pictures alone. A new turn starts its audio at its first
tick all the same, over that silence. A turn whose voice
under-runs mid-speech holds its last frame with silence until more comes, and the rest
of it plays that much later. A turn whose downstream call fails ends FAILED and the
session goes on idling.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import deque

import grpc

from avatar.gateway.v1 import gateway_pb2
from avatar.tts.v1 import tts_pb2
from avatar_gateway.conversations import ConversationStoreError
from avatar_gateway.converse.clock import SessionClock
from avatar_gateway.converse.draft import Drafts
from avatar_gateway.converse.echo import EchoGuard
from avatar_gateway.converse.listen import VoiceInput
from avatar_gateway.converse.settings import Receive, Send, SessionError, SessionSettings
from avatar_gateway.converse.ticks import TickWriter
from avatar_gateway.converse.turn import Turn, TurnFailure, TurnRunner
from avatar_gateway.converse.voice import VoiceTurns
from avatar_gateway.metrics import GatewayMetrics
from avatar_gateway.pipeline import SpeakPlan
from avatar_gateway.plan import answers_by_chat
from avatar_gateway.sentences import split_sentences
from avatar_gateway.stages.tts import synthesis_request
from avatar_gateway.turns import ChatTurns
from avatar_gateway.validation import converse_turn_problem

log = logging.getLogger(__name__)

START_FRAMES = 1
"""Frames after the next tick to send where a new turn's speech is placed: its
pipeline's usual time to the first frame, so speech starts soon and on its pose."""

FRAME_BATCH = 2
"""Frames per animator batch of a turn (after the first, which comes alone): a session
plays one frame a tick, so small batches keep the frames after the first from arriving
late (a hold, silence, at the start of the speech)."""

AUDIO_AHEAD_SECONDS = 0.12
"""How much earlier than its time the audio of a tick of speech goes out when it is in
hand (three frames at 25 fps). A client that re-times the stream (the web front) then
holds that much of a turn's speech when its first audio comes and can start it at
once, with room for the scheduling jitter of the ticks after it. What of it is not
played when the turn stops is replaced (see the module's docstring)."""

SPEECH_AHEAD_SECONDS = 0.04
"""How much earlier than its time the picture of a tick of speech goes out when it is
drawn (one frame at 25 fps): a turn's first picture goes at once (its tick is due
within a frame), the rest keep as far ahead of their time."""

PICTURE_WAIT_SECONDS = 0.04
"""How long after its tick is due the picture of a tick of speech, whose audio went
ahead of it, is waited for (one frame at 25 fps); later, the turn's last picture (the
idle frame, before its first) takes its place and the drawn one is dropped when it
comes."""

SETTLE_SECONDS = 1.0
"""Longest wait, when a session ends, for its turn's pipeline to stop."""


class _Closed:
    """The client closed its stream."""


_CLOSED = _Closed()

_OUTCOME_LABELS = {
    gateway_pb2.TURN_OUTCOME_DONE: "done",
    gateway_pb2.TURN_OUTCOME_INTERRUPTED: "interrupted",
    gateway_pb2.TURN_OUTCOME_FAILED: "failed",
}


class ConverseSession:
    """Plays one live session until the client leaves or closes its stream.

    Args:
        settings: The session's settings.
        runner: What its turns run with.
        metrics: The gateway's metrics.
        receive: The client's next message (None at the end of its stream).
        send: Sends an event to the client.
        clock: The session clock (a fresh one at the session's fps and rate by default).
    """

    def __init__(
        self,
        settings: SessionSettings,
        runner: TurnRunner,
        metrics: GatewayMetrics,
        receive: Receive,
        send: Send,
        clock: SessionClock | None = None,
    ) -> None:
        self.settings = settings
        self._runner = runner
        self._metrics = metrics
        self._receive = receive
        self._send_event = send
        self._clock = clock or SessionClock(settings.template.fps, settings.sample_rate)
        self._inbox: deque[tuple[object, float]] = deque()
        self._wake = asyncio.Event()
        self._next_frame = 0
        self._sequence = 0
        self._turns = 0
        self._turn: Turn | None = None
        self._closing = False
        self._send_now = False
        # The next frame whose audio is still to send: ahead of _next_frame while the
        # playing turn's audio goes before its pictures, equal to it otherwise.
        self._next_audio = 0
        self._barge_in_since: float | None = None
        self._stopping: set[asyncio.Task] = set()
        self._writes: set[asyncio.Task] = set()
        self._echo = EchoGuard()
        self._ticks = TickWriter(settings, self._clock, self._echo, metrics, self._send)
        self._voice_input = VoiceInput(settings.listen, runner.clients.asr, self._echo, self._post)
        self._voice = VoiceTurns(self._voice_input, self._echo, metrics, self)
        self._drafts = Drafts(runner.clients.tts, metrics, runner.time_remaining)

    @property
    def frames_sent(self) -> int:
        """Ticks sent so far: the next frame's index."""
        return self._next_frame

    @property
    def turn_in_progress(self) -> bool:
        """Whether a turn is being prepared or played."""
        return self._turn is not None

    @property
    def next_turn_number(self) -> int:
        """The number the next turn will get."""
        return self._turns + 1

    async def run(self) -> None:
        """Sends the started event, then ticks, until the session ends.

        Raises:
            SessionError: The client broke the protocol (a second config, an empty
                message).
        """
        reader = asyncio.create_task(
            self._read(), name=f"converse {self.settings.session_id} reader"
        )
        try:
            await self._send(self._started(), turn=0)
            self._clock.start()
            while True:
                self._wake.clear()
                await self._handle_messages()
                if self._closing and self._turn is None and not self._voice_input.listening:
                    return
                if self._audio_can_go():
                    if not self._turn.playing:
                        await self._silence_before(self._turn)
                    frame = self._next_audio
                    self._next_audio += 1
                    await self._ticks.speech_audio(
                        self._turn, frame, self._clock.slot_samples(frame)
                    )
                elif self._send_now or self._tick_wait_seconds() <= 0:
                    await self._tick()
                else:
                    await self._sleep(self._sleep_seconds())
        finally:
            self._drafts.close()
            reader.cancel()
            await self._settle(reader)

    async def _read(self) -> None:
        try:
            while (message := await self._receive()) is not None:
                if message.WhichOneof("message") == "audio":
                    # Waits while the asr is behind: flow control holds the client back.
                    await self._voice_input.feed(message.audio, time.perf_counter())
                else:
                    self._post(message)
        except SessionError as error:  # a message that is not a ConverseRequest
            self._inbox.append((error, time.perf_counter()))
        except Exception as error:  # the call is ending: its own status says why
            log.debug("session %s: reading stopped: %s", self.settings.session_id, error)
        self._inbox.append((_CLOSED, time.perf_counter()))
        self._wake.set()

    def _post(self, item: object) -> None:
        self._inbox.append((item, time.perf_counter()))
        self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        except TimeoutError:
            pass

    # Messages ---------------------------------------------------------------------------

    async def _handle_messages(self) -> None:
        while self._inbox:
            message, received_at = self._inbox.popleft()
            if message is _CLOSED:
                self._closing = True
                self._voice_input.end_input()  # speech sent still gets its final
                continue
            if isinstance(message, SessionError):
                raise message
            if await self._voice.handle(message, received_at):
                continue
            assert isinstance(message, gateway_pb2.ConverseRequest)
            kind = message.WhichOneof("message")
            if kind == "turn":
                await self._new_turn(message.turn, received_at)
            elif kind == "interrupt":
                await self._stop_turn(received_at)
            elif kind == "draft":
                self._drafts.update(self._draft_synthesis(message.draft))
            elif kind == "config":
                raise SessionError(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "the session already has its config: send ConverseConfig once, as the "
                    "first message",
                )
            else:
                raise SessionError(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "a ConverseRequest must carry a config, a turn, an interrupt or audio",
                )

    async def speech_turn(
        self, text: str, received_at: float, speech_ended_at: float | None
    ) -> None:
        """Starts a turn from the final transcript of the user's speech."""
        request = gateway_pb2.ConverseTurn(text=text, mode=self.settings.listen.speech_mode)
        await self._new_turn(
            request, received_at, from_speech=True, speech_ended_at=speech_ended_at
        )

    async def send_event(self, event: gateway_pb2.ConverseResponse, *, turn: int) -> None:
        """Sends an event to the client, numbered in sequence."""
        await self._send(event, turn=turn)

    async def stop_turn(self, received_at: float) -> None:
        """Stops the turn in progress, if any (the next tick is idle)."""
        await self._stop_turn(received_at)

    async def _new_turn(
        self,
        request: gateway_pb2.ConverseTurn,
        received_at: float,
        *,
        from_speech: bool = False,
        speech_ended_at: float | None = None,
    ) -> None:
        self._turns += 1
        number = self._turns
        settings = self.settings
        mode = request.mode or settings.mode or gateway_pb2.SPEAK_MODE_SPEAK
        text = request.text.strip()
        problem = converse_turn_problem(request, mode, settings.max_text_chars)
        chat = problem is None and answers_by_chat(mode, text)
        started = gateway_pb2.TurnStarted(
            client_turn_id=request.client_turn_id,
            text=text,
            mode=gateway_pb2.SPEAK_MODE_CHAT if chat else gateway_pb2.SPEAK_MODE_SPEAK,
            from_speech=from_speech,
        )
        failure = None
        if problem:
            failure = TurnFailure(grpc.StatusCode.INVALID_ARGUMENT, problem)
        elif chat and not settings.chat_available:
            failure = TurnFailure(
                grpc.StatusCode.FAILED_PRECONDITION,
                "chat needs an LLM: set AVATAR_GATEWAY_LLM_ADDRESS to the llm service",
            )
        if failure is not None:
            await self._send(gateway_pb2.ConverseResponse(turn_started=started), turn=number)
            await self._send_refused(number, request, failure, received_at)
            return
        await self._stop_turn(received_at)
        plan = _turn_plan(settings.template, text, chat, self._next_frame + START_FRAMES)
        turn = Turn(
            number, request, plan, received_at, settings.sample_rate, on_media=self._wake.set
        )
        turn.speech_ended_at = speech_ended_at
        drafted = self._drafts.take(None if chat else self._first_synthesis(text))
        if drafted is None:
            turn.start(self._runner, self._writes)
        else:
            clients = dataclasses.replace(self._runner.clients, tts=drafted)
            turn.start(dataclasses.replace(self._runner, clients=clients), self._writes)
            turn.task.add_done_callback(lambda _: drafted.drop())
        self._turn = turn
        await self._send(gateway_pb2.ConverseResponse(turn_started=started), turn=number)

    def _draft_synthesis(
        self, draft: gateway_pb2.ConverseDraft
    ) -> tts_pb2.SynthesizeRequest | None:
        """The synthesis a draft's turn would start with; None when it would start none
        (a chat turn) or be refused."""
        mode = draft.mode or self.settings.mode or gateway_pb2.SPEAK_MODE_SPEAK
        text = draft.text.strip()
        if converse_turn_problem(draft, mode, self.settings.max_text_chars):
            return None
        return None if answers_by_chat(mode, text) else self._first_synthesis(text)

    def _first_synthesis(self, text: str) -> tts_pb2.SynthesizeRequest | None:
        """The tts stage's first request for a turn that speaks ``text``."""
        sentences = split_sentences(text)
        if not sentences:
            return None
        return synthesis_request(sentences[0], self.settings.template.voice)

    async def _send_refused(
        self,
        number: int,
        request: gateway_pb2.ConverseTurn,
        failure: TurnFailure,
        received_at: float,
    ) -> None:
        ended = gateway_pb2.TurnEnded(
            client_turn_id=request.client_turn_id,
            outcome=gateway_pb2.TURN_OUTCOME_FAILED,
            summary=gateway_pb2.SpeakSummary(total_seconds=time.perf_counter() - received_at),
            start_frame=self._next_frame,
            end_frame=self._next_frame,
            error_code=failure.code.name,
            error_message=failure.message,
        )
        self._metrics.converse_turns.labels("failed").inc()
        await self._send(gateway_pb2.ConverseResponse(turn_ended=ended), turn=number)

    async def _stop_turn(self, received_at: float) -> None:
        """Ends the current turn INTERRUPTED, if there is one; the next tick is idle."""
        if self._turn is None:
            return
        await self._end_turn(gateway_pb2.TURN_OUTCOME_INTERRUPTED)
        self._barge_in_since = received_at
        self._send_now = True

    async def _end_turn(self, outcome: int) -> None:
        turn = self._turn
        assert turn is not None
        self._turn = None
        # The turn's audio sent, its pictures not (while no turn plays, what lies ahead of
        # the pictures is silence already).
        withdrawn = range(0)
        if turn.played_from is not None:
            withdrawn = range(max(self._next_frame, turn.played_from), self._next_audio)
        if withdrawn:
            samples = self._clock.slot_start(withdrawn.stop) - self._clock.slot_start(
                withdrawn.start
            )
            turn.withdraw(withdrawn.start, samples)
        task = turn.stop()
        if task is not None and not task.done():
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)
        finished = outcome == gateway_pb2.TURN_OUTCOME_DONE
        ended = gateway_pb2.TurnEnded(
            client_turn_id=turn.request.client_turn_id,
            outcome=outcome,
            summary=turn.summary(),
            start_frame=turn.played_from if turn.played_from is not None else turn.plan.start_frame,
            end_frame=turn.end_frame,
        )
        if turn.failure is not None:
            ended.error_code = turn.failure.code.name
            ended.error_message = turn.failure.message
            if turn.failure.stage:
                self._metrics.errors.labels(turn.failure.stage, turn.failure.code.name).inc()
        self._metrics.converse_turns.labels(_OUTCOME_LABELS[outcome]).inc()
        self._remember(turn, finished=finished)
        await self._send(gateway_pb2.ConverseResponse(turn_ended=ended), turn=turn.number)
        for frame in withdrawn:  # at once: the client has not played it yet
            await self._ticks.silence(frame, self._clock.slot_samples(frame))

    def _remember(self, turn: Turn, *, finished: bool) -> None:
        chat_turns = self._runner.chat_turns
        if not chat_turns.kept(turn.plan):
            return
        spoken = turn.spoken_text()
        if finished:
            write = asyncio.ensure_future(_remember_done(chat_turns, turn.plan, spoken))
        else:
            write = asyncio.ensure_future(chat_turns.remember_interrupted(turn.plan, spoken))
        self._writes.add(write)
        write.add_done_callback(self._writes.discard)

    # Ticks ------------------------------------------------------------------------------

    async def _tick(self) -> None:
        frame = self._next_frame
        turn = self._turn
        if turn is not None and turn.failure is not None:
            await self._end_turn(gateway_pb2.TURN_OUTCOME_FAILED)
        elif turn is not None and turn.buffer.exhausted:  # played out, or made nothing
            await self._end_turn(gateway_pb2.TURN_OUTCOME_DONE)
        turn = self._turn
        self._next_frame += 1
        self._send_now = False
        if frame < self._next_audio:  # its audio went ahead: the picture now
            if self._speech_at(turn, frame):
                await self._ticks.picture(turn, frame)
            else:  # before a turn's speech, or after a turn's audio taken back
                await self._idle_tick(frame, None)
        else:
            self._next_audio = self._next_frame
            samples = self._clock.slot_samples(frame)
            if turn is not None and turn.playing:  # its audio is late: hold
                await self._ticks.hold(turn, frame, samples)
            else:
                await self._idle_tick(frame, samples)
        done = turn is not None and turn.buffer.exhausted and turn.failure is None
        if done and turn is self._turn:
            await self._end_turn(gateway_pb2.TURN_OUTCOME_DONE)

    def _audio_can_go(self) -> bool:
        """Whether a turn's audio goes now: the playing turn's next, in hand and due within
        :data:`AUDIO_AHEAD_SECONDS`, or a turn's first, in hand, at once (see
        :meth:`_silence_before`)."""
        turn = self._turn
        if turn is None or turn.failure is not None:
            return False
        if not turn.playing:
            return self._audio_in_hand(turn, self._first_speech_frame(turn))
        frame = self._next_audio
        return (
            self._audio_in_hand(turn, frame)
            and self._clock.wait_seconds(frame) <= AUDIO_AHEAD_SECONDS
        )

    def _audio_in_hand(self, turn: Turn, frame: int) -> bool:
        """Whether the turn has the audio of session ``frame``, the next without it: made,
        or silence once its voice has ended while pictures remain to play with it."""
        buffer = turn.buffer
        if buffer.audio_ready(self._clock.slot_samples(frame)):
            return True
        # The turn's pictures still to show begin at the next tick, or at its first.
        first_picture = self._next_frame if turn.playing else frame
        return buffer.finished and buffer.frames_ahead > frame - first_picture

    def _first_speech_frame(self, turn: Turn) -> int:
        """Where a turn that has not begun to play would begin: its start, or the next
        tick to send once that has passed."""
        return max(self._next_frame, turn.plan.start_frame)

    async def _silence_before(self, turn: Turn) -> None:
        """Before a turn's first audio, the silence of the idle ticks still to send ahead
        of it (their pictures follow on time, alone), so that audio goes at once rather
        than after those ticks. Silence already sent ahead (a turn's audio taken back)
        stands; the turn's audio replaces any of it from the turn's first tick on."""
        start = self._first_speech_frame(turn)
        for frame in range(max(self._next_frame, self._next_audio), start):
            await self._ticks.silence(frame, self._clock.slot_samples(frame))
        self._next_audio = start

    def _tick_wait_seconds(self) -> float:
        """Seconds until the next tick goes (0 or less: now): idle and holds on time, a
        picture of speech up to :data:`SPEECH_AHEAD_SECONDS` early once drawn, or
        :data:`PICTURE_WAIT_SECONDS` late without it."""
        wait = self._clock.wait_seconds(self._next_frame)
        turn = self._turn
        if self._next_frame < self._next_audio and self._speech_at(turn, self._next_frame):
            if turn.failure is not None or turn.buffer.exhausted:
                return wait  # the turn ends there: an idle tick, on time
            if turn.buffer.has_frame:
                return wait - SPEECH_AHEAD_SECONDS
            return wait + PICTURE_WAIT_SECONDS
        return wait

    @staticmethod
    def _speech_at(turn: Turn | None, frame: int) -> bool:
        """Whether session ``frame`` is one of the turn's ticks of speech."""
        return turn is not None and turn.played_from is not None and frame >= turn.played_from

    def _sleep_seconds(self) -> float:
        """How long the loop may sleep before the next tick or audio is due (a message or
        the turn's media wakes it sooner)."""
        wait = self._tick_wait_seconds()
        turn = self._turn
        if turn is not None and turn.playing and self._audio_in_hand(turn, self._next_audio):
            wait = min(wait, self._clock.wait_seconds(self._next_audio) - AUDIO_AHEAD_SECONDS)
        return max(0.0, wait)

    async def _idle_tick(self, frame: int, samples: int | None) -> None:
        """An idle tick with ``samples`` of silence; its picture alone for None (its
        silence went before)."""
        if samples is None:
            await self._ticks.idle_picture(frame)
        else:
            await self._ticks.idle(frame, samples)
        if self._barge_in_since is not None:
            self._metrics.converse_barge_in.observe(time.perf_counter() - self._barge_in_since)
            self._barge_in_since = None

    # Plumbing ---------------------------------------------------------------------------

    async def _send(self, event: gateway_pb2.ConverseResponse, *, turn: int) -> None:
        event.sequence = self._sequence
        event.turn = turn
        self._sequence += 1
        await self._send_event(event)

    def _started(self) -> gateway_pb2.ConverseResponse:
        settings = self.settings
        return gateway_pb2.ConverseResponse(
            started=gateway_pb2.ConverseStarted(
                session_id=settings.session_id,
                sample_rate=settings.sample_rate,
                fps=settings.template.fps,
                frame_width=settings.frame_width,
                frame_height=settings.frame_height,
                idle_loop_frames=len(settings.idle.frames),
            )
        )

    async def _settle(self, reader: asyncio.Task) -> None:
        """Stops everything of the session: the reader, the playing turn, its pipeline."""
        if self._turn is not None:
            turn, self._turn = self._turn, None
            task = turn.stop()
            if task is not None:
                self._stopping.add(task)
            outcome = "failed" if turn.failure is not None else "interrupted"
            self._metrics.converse_turns.labels(outcome).inc()
            self._remember(turn, finished=False)
        pending = {reader, *self._stopping, *self._voice_input.stop()}
        _, late = await asyncio.wait(pending, timeout=SETTLE_SECONDS)
        if late:
            log.warning("session %s: %d tasks still stopping", self.settings.session_id, len(late))


def _turn_plan(template: SpeakPlan, text: str, chat: bool, start_frame: int) -> SpeakPlan:
    return dataclasses.replace(
        template, text=text, chat=chat, start_frame=start_frame, frame_batch=FRAME_BATCH
    )


async def _remember_done(chat_turns: ChatTurns, plan: SpeakPlan, spoken_text: str) -> None:
    """Appends a turn played to its end; a store failure is logged (the turn has ended)."""
    try:
        await chat_turns.remember(plan, spoken_text)
    except ConversationStoreError as error:
        log.warning("a chat turn of a live session was not remembered: %s", error)
