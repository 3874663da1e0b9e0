"""What one tick of a live session sends: a frame and exactly its slot of audio.

A tick is idle (the avatar's idle loop frame, silence), speech (the turn's next frame
and audio, with the sentences that begin in it) or a hold (the turn's last frame again,
silence, while its voice catches up). A tick of speech goes in two halves: its audio as
soon as it is in hand, its picture when the animator has drawn it (the turn's last
picture, or the idle frame before its first, when that comes too late). :class:`TickWriter` stamps each with the session
frame index and sample offset and tells the echo guard what the avatar says.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from avatar.common.v1 import media_pb2
from avatar.gateway.v1 import gateway_pb2
from avatar_gateway.converse.clock import SessionClock
from avatar_gateway.converse.echo import EchoGuard, rms_of
from avatar_gateway.converse.settings import SessionSettings
from avatar_gateway.converse.turn import Turn
from avatar_gateway.metrics import GatewayMetrics

SendEvent = Callable[..., Awaitable[None]]
"""Sends an event to the client: ``send(event, turn=number)``."""


class TickWriter:
    """Sends the ticks of one session.

    Args:
        settings: The session's settings.
        clock: The session clock (slots of audio, fps).
        echo: Told what the avatar says and how loud, tick by tick.
        metrics: The gateway's metrics (time to a turn's first audio and frame).
        send: Sends an event to the client, numbered by the session.
    """

    def __init__(
        self,
        settings: SessionSettings,
        clock: SessionClock,
        echo: EchoGuard,
        metrics: GatewayMetrics,
        send: SendEvent,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._echo = echo
        self._metrics = metrics
        self._send = send
        self._quality = "high" if settings.template.high_quality else "low"
        self._silence: dict[int, bytes] = {}

    async def idle(self, frame: int, samples: int) -> None:
        """The idle loop's frame for session ``frame``, with silence."""
        self._echo.note_output(0.0)
        await self._media(self._silence_of(samples), self.settings.idle.frame(frame), turn=0)

    async def idle_picture(self, frame: int) -> None:
        """The idle loop's frame for session ``frame``, whose audio went before."""
        await self._frame(self.settings.idle.frame(frame), turn=0)

    async def silence(self, frame: int, samples: int) -> None:
        """Silence for session ``frame``, before its picture: it replaces the audio of a
        turn that stopped before that picture was sent."""
        await self._audio(self._silence_of(samples), frame, turn=0)

    async def speech_audio(self, turn: Turn, frame: int, samples: int) -> None:
        """The audio of the turn's tick at session ``frame``, before its picture
        (:meth:`picture`); call when the audio is in hand."""
        pcm = turn.take_audio(frame, samples)
        await self._audio(pcm, frame, turn=turn.number)
        self._echo.note_output(rms_of(pcm))
        if turn.first_audio_at is None:
            self._first_audio(turn, time.perf_counter())

    async def picture(self, turn: Turn, frame: int) -> None:
        """The picture of session ``frame``, whose audio went first: the turn's frame when it
        has come, else its last one again (the idle loop's, before its first); the
        sentences that begin with it go first."""
        await self._sentences(turn, turn.take_sentences(frame))
        drawn = turn.take_picture()
        if drawn is None:
            drawn = turn.last_frame
        if drawn is None:
            await self._frame(self.settings.idle.frame(frame), turn=0)
            return
        picture = media_pb2.Frame()
        picture.CopyFrom(drawn)
        picture.index = frame
        await self._frame(picture, turn=turn.number)
        self._first_frame(turn, time.perf_counter())

    async def _sentences(self, turn: Turn, sentences: list) -> None:
        for frame, start, sentence in sentences:
            event = gateway_pb2.Sentence()
            event.CopyFrom(sentence)
            offset = self._clock.slot_start(frame) + start
            event.start_seconds = offset / self.settings.sample_rate
            self._echo.note_spoken(sentence.text)
            await self._send(gateway_pb2.ConverseResponse(sentence=event), turn=turn.number)

    async def hold(self, turn: Turn, frame: int, samples: int) -> None:
        """The turn's last frame again at session ``frame``, with silence (the idle frame
        when its first picture came too late to be shown)."""
        picture = media_pb2.Frame()
        picture.CopyFrom(turn.last_frame or self.settings.idle.frame(frame))
        picture.index = frame
        turn.hold(frame)
        self._echo.note_output(0.0)
        await self._media(self._silence_of(samples), picture, turn=turn.number)

    def _first_audio(self, turn: Turn, now: float) -> None:
        turn.first_audio_at = now
        first = now - turn.received_at
        self._metrics.converse_time_to_first_audio.labels(self._quality).observe(first)
        if turn.speech_ended_at is not None:
            self._metrics.converse_end_of_speech_to_first_audio.observe(now - turn.speech_ended_at)

    def _first_frame(self, turn: Turn, now: float) -> None:
        if turn.first_frame_at is None:
            turn.first_frame_at = now
            first = now - turn.received_at
            self._metrics.converse_time_to_first_frame.labels(self._quality).observe(first)

    async def _media(self, pcm: bytes, picture: media_pb2.Frame, *, turn: int) -> None:
        await self._audio(pcm, picture.index, turn=turn)
        await self._frame(picture, turn=turn)

    async def _audio(self, pcm: bytes, frame: int, *, turn: int) -> None:
        audio = media_pb2.AudioChunk(
            pcm=pcm,
            sample_rate=self.settings.sample_rate,
            sample_offset=self._clock.slot_start(frame),
        )
        await self._send(gateway_pb2.ConverseResponse(audio=audio), turn=turn)

    async def _frame(self, picture: media_pb2.Frame, *, turn: int) -> None:
        batch = media_pb2.FrameBatch(frames=[picture], fps=self._clock.fps)
        await self._send(gateway_pb2.ConverseResponse(frames=batch), turn=turn)

    def _silence_of(self, samples: int) -> bytes:
        silence = self._silence.get(samples)
        if silence is None:
            silence = self._silence[samples] = bytes(2 * samples)
        return silence
