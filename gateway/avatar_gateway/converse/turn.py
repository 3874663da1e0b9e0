"""One turn of a live session: its pipeline, run ahead into a buffer, and what was played.

A turn runs the Speak pipeline (:class:`~avatar_gateway.pipeline.SpeakPipeline`) in a
task of its own that puts the pipeline's events into the turn's
:class:`~avatar_gateway.converse.speech.SpeechBuffer`; the session plays them on its
clock and tells the turn what it played, which is what the turn's summary and the
conversation store get. Stopping a turn cancels that task, and with it every stage and
downstream call of the turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import grpc

from avatar.common.v1 import media_pb2
from avatar.gateway.v1 import gateway_pb2
from avatar_gateway.clients import StageError
from avatar_gateway.conversations import ConversationStoreError
from avatar_gateway.converse.speech import SampleRateMismatchError, SpeechBuffer
from avatar_gateway.pipeline import Clients, SpeakPipeline, SpeakPlan
from avatar_gateway.turns import ChatTurns

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TurnFailure:
    """Why a turn failed.

    Attributes:
        code: The gRPC status code that names the failure.
        message: What went wrong, in words.
        stage: The pipeline stage that failed (``tts``, ``animator``, ...); empty when
            the turn failed otherwise.
    """

    code: grpc.StatusCode
    message: str
    stage: str = ""


@dataclass(frozen=True, slots=True)
class TurnRunner:
    """What every turn of a session runs with.

    Attributes:
        clients: The downstream services.
        chat_turns: The conversation store's turns.
        time_remaining: Seconds left until the session's deadline (None: none).
        sentences_ahead: Sentences synthesised ahead of the one animating.
    """

    clients: Clients
    chat_turns: ChatTurns
    time_remaining: Callable[[], float | None]
    sentences_ahead: int = 1


class Turn:
    """One accepted turn: made by its pipeline, played by the session.

    Args:
        number: 1, 2, ... in order of arrival within the session.
        request: The turn as the client sent it.
        plan: The validated turn, ready to run (its ``start_frame`` is where the
            speech is meant to begin on the session clock).
        received_at: When the turn arrived (``time.perf_counter``).
        sample_rate: The session's sample rate.
        on_media: Called whenever the pipeline hands the turn media.
    """

    def __init__(
        self,
        number: int,
        request: gateway_pb2.ConverseTurn,
        plan: SpeakPlan,
        received_at: float,
        sample_rate: int,
        on_media: Callable[[], None] = lambda: None,
    ) -> None:
        self.number = number
        self.request = request
        self.plan = plan
        self.received_at = received_at
        self.sample_rate = sample_rate
        self.buffer = SpeechBuffer(sample_rate, plan.fps, on_media=on_media)
        self.failure: TurnFailure | None = None
        self.played_from: int | None = None
        self.end_frame = plan.start_frame
        self.first_audio_at: float | None = None
        self.first_frame_at: float | None = None
        self.frames_played = 0
        self.sentences_played: list[str] = []
        # Sentences whose audio went and whose picture has not: (session frame, sentences).
        self._sentences_ahead: list[tuple[int, list]] = []
        self.withdrawn_samples = 0
        self.last_frame: media_pb2.Frame | None = None
        self.speech_ended_at: float | None = None  # a speech turn: its user's last sound
        self._produced_at: float | None = None
        self._pipeline: SpeakPipeline | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def playing(self) -> bool:
        """Whether its speech has begun to play."""
        return self.played_from is not None

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The task that runs its pipeline (None before :meth:`start`)."""
        return self._task

    def start(self, runner: TurnRunner, earlier_writes: Iterable[asyncio.Future]) -> None:
        """Runs the turn's pipeline in a task of its own.

        Args:
            runner: What the session's turns run with.
            earlier_writes: Conversation writes of earlier turns still under way; a
                chat turn reads its history once they are done.
        """
        self._task = asyncio.create_task(
            self._produce(runner, tuple(earlier_writes)), name=f"converse turn {self.number}"
        )

    def stop(self) -> asyncio.Task[None] | None:
        """Cancels the pipeline and every downstream call of the turn; returns its task."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        return self._task

    def take_audio(self, frame: int, samples: int) -> bytes:
        """Takes the audio of session ``frame`` (it goes before its picture: see
        :meth:`take_picture`); the sentences that begin in it wait for that picture
        (:meth:`take_sentences`)."""
        if self.played_from is None:
            self.played_from = frame
        pcm, sentences = self.buffer.take_audio(samples)
        if sentences:
            self._sentences_ahead.append((frame, sentences))
        self.end_frame = frame + 1
        return pcm

    def take_sentences(self, frame: int) -> list[tuple[int, int, gateway_pb2.Sentence]]:
        """The sentences that begin to play with the picture of session ``frame``:
        (frame, sample of its slot where it begins, sentence) each."""
        due = [(at, s) for at, s in self._sentences_ahead if at <= frame]
        self._sentences_ahead = [(at, s) for at, s in self._sentences_ahead if at > frame]
        begun = [(at, start, sentence) for at, sentences in due for start, sentence in sentences]
        self.sentences_played.extend(sentence.text for _, _, sentence in begun)
        return begun

    def withdraw(self, frame: int, samples: int) -> None:
        """Takes back the audio sent from session ``frame`` on (``samples`` of it), whose
        pictures were not: the turn ends there, and the sentences that begin there never
        play."""
        self.end_frame = frame
        self.withdrawn_samples += samples
        self._sentences_ahead.clear()

    def take_picture(self) -> media_pb2.Frame | None:
        """The picture of a tick whose audio went first: the turn's next frame, or None
        when it has not come (it is dropped when it does: its time has passed)."""
        if not self.buffer.has_frame:
            self.buffer.drop_frame()
            return None
        self.last_frame = self.buffer.take_frame()
        self.frames_played += 1
        return self.last_frame

    def hold(self, frame: int) -> None:
        """Notes a tick that held the last frame while the pipeline caught up."""
        self.end_frame = frame + 1

    def spoken_text(self) -> str:
        """What of the turn was played: the sentences that began to play."""
        return " ".join(text for text in self.sentences_played if text)

    def summary(self) -> gateway_pb2.SpeakSummary:
        """The turn's timings and what of it was played, up to now."""
        now = time.perf_counter()
        produced_seconds = self.buffer.produced_samples / self.sample_rate
        production = (self._produced_at or now) - self.received_at
        stages = self._pipeline.measurements.stage_seconds if self._pipeline else {}
        return gateway_pb2.SpeakSummary(
            time_to_first_audio_seconds=_since(self.received_at, self.first_audio_at),
            time_to_first_frame_seconds=_since(self.received_at, self.first_frame_at),
            total_seconds=now - self.received_at,
            audio_seconds=max(0, self.buffer.played_samples - self.withdrawn_samples)
            / self.sample_rate,
            real_time_factor=production / produced_seconds if produced_seconds else 0.0,
            frames=self.frames_played,
            sentences=len(self.sentences_played),
            stages=[
                gateway_pb2.StageTiming(stage=stage, seconds=seconds)
                for stage, seconds in stages.items()
            ],
            spoken_text=self.spoken_text(),
        )

    async def _produce(
        self, runner: TurnRunner, earlier_writes: tuple[asyncio.Future, ...]
    ) -> None:
        try:
            plan = await self._with_history(runner, earlier_writes)
            pipeline = SpeakPipeline(
                runner.clients, plan, runner.time_remaining, runner.sentences_ahead
            )
            self._pipeline = pipeline
            async with contextlib.aclosing(pipeline.events()) as events:
                async for event in events:
                    await self.buffer.put(event)
            self._produced_at = time.perf_counter()
            self.buffer.finish()
        except StageError as error:
            self.failure = TurnFailure(error.code, str(error), error.stage)
        except ConversationStoreError as error:
            self.failure = TurnFailure(grpc.StatusCode.UNAVAILABLE, str(error))
        except SampleRateMismatchError as error:
            self.failure = TurnFailure(grpc.StatusCode.INTERNAL, str(error))
        except Exception:
            log.exception("turn %d of a live session failed", self.number)
            self.failure = TurnFailure(
                grpc.StatusCode.INTERNAL,
                "internal error in the turn; the server log has the details",
            )

    async def _with_history(
        self, runner: TurnRunner, earlier_writes: tuple[asyncio.Future, ...]
    ) -> SpeakPlan:
        if not runner.chat_turns.kept(self.plan):
            return self.plan
        if earlier_writes:
            # Shielded: this turn being stopped must not cancel an earlier turn's write.
            await asyncio.shield(asyncio.gather(*earlier_writes, return_exceptions=True))
        history = await runner.chat_turns.history(self.plan.conversation_id)
        self.plan = dataclasses.replace(self.plan, history=history)
        return self.plan


def _since(start: float, moment: float | None) -> float:
    return moment - start if moment is not None else 0.0
