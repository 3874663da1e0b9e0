"""Converse through the plain generated stub, against a real in-process stack.

One session carries most of the checks: idle, a turn played to its end, idle, a long
turn interrupted in the middle, idle, half-close. Time is judged on the session clock
(frame indices), never on the wall clock, except for generous bounds.
"""

from __future__ import annotations

import asyncio
import io

import grpc
import numpy as np
import pytest
from PIL import Image

from avatar.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from tests.reliability.harness import PHOTO, ReliabilityStack, running_stack
from tests.support.converse_client import LiveSession, Tick

LONG_TEXT = (
    "Once upon a time there was a lighthouse keeper who lived alone on a rock. "
    "Every night he climbed the stairs and lit the lamp for the ships at sea. "
    "One stormy night a small boat came too close to the rocks. "
    "He rang the bell and waved his lantern until the boat turned away. "
    "In the morning the sailors rowed over and thanked him with fresh bread."
)


async def _avatar(stack: ReliabilityStack) -> str:
    async with stack.channel("gateway") as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        avatar = await stub.CreateAvatar(gateway_pb2.CreateAvatarRequest(image=PHOTO), timeout=60)
    return avatar.avatar_id


def _turn_runs(ticks: list[Tick]) -> list[tuple[int, int]]:
    """The ticks' turn numbers run-length encoded: [(turn, count), ...]."""
    runs: list[tuple[int, int]] = []
    for tick in ticks:
        if runs and runs[-1][0] == tick.turn:
            runs[-1] = (tick.turn, runs[-1][1] + 1)
        else:
            runs.append((tick.turn, 1))
    return runs


def _pixels(frame) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(frame.data)).convert("L"), dtype=np.float32)


def _idle_count(session: LiveSession, after: int) -> int:
    return sum(1 for tick in session.ticks[after:] if tick.turn == 0)


async def test_a_session_idles_plays_a_turn_and_is_interrupted_in_the_next(tmp_path):
    async with running_stack(tmp_path) as stack:
        avatar_id = await _avatar(stack)
        async with stack.channel("gateway") as channel:
            stub = gateway_pb2_grpc.GatewayServiceStub(channel)
            voices = await stub.ListVoices(gateway_pb2.ListVoicesRequest(), timeout=10)
            session = LiveSession(stub, gateway_pb2.ConverseConfig(avatar_id=avatar_id))
            await session.wait_for(lambda s: len(s.ticks) >= 10)
            session.turn("Hello there. Nice to meet you.", client_turn_id="first")
            first = await session.wait_for_turn_end(1)
            between = len(session.ticks)
            await session.wait_for(lambda s: _idle_count(s, between) >= 10)
            session.turn(LONG_TEXT, client_turn_id="second")
            await session.wait_for(lambda s: sum(t.turn == 2 for t in s.ticks) >= 40)
            last_before_interrupt = session.ticks[-1].frame.index
            session.interrupt()
            second = await session.wait_for_turn_end(2)
            # The interrupted turn's tts and animator calls end while the session idles.
            assert await _settled(lambda: _downstream_in_flight(stack) == 0)
            after = len(session.ticks)
            await session.wait_for(lambda s: _idle_count(s, after) >= 10)
            session.close()
            assert await session.finish() == grpc.StatusCode.OK

    started = session.started
    default_voice = next(v for v in voices.voices if v.name == voices.default_voice)
    assert started.sample_rate == default_voice.sample_rate
    assert (started.fps, started.frame_width, started.frame_height) == (25.0, 512, 512)
    assert started.idle_loop_frames >= 2

    # One clock: sequence numbers, frame indices and sample offsets gapless from 0, and
    # each frame goes with exactly its slot of audio at the voice's rate.
    assert [event.sequence for event in session.events] == list(range(len(session.events)))
    rate, fps = started.sample_rate, started.fps
    for k, tick in enumerate(session.ticks):
        assert tick.frame.index == k
        assert tick.audio.sample_rate == rate
        assert tick.audio.sample_offset == round(k * rate / fps)
        assert len(tick.audio.pcm) // 2 == round((k + 1) * rate / fps) - round(k * rate / fps)

    # Idle before, between and after the turns; each turn's ticks in one run.
    runs = _turn_runs(session.ticks)
    assert [turn for turn, _ in runs] == [0, 1, 0, 2, 0]
    assert runs[1][1] == first.end_frame - first.start_frame
    assert runs[3][1] == second.end_frame - second.start_frame
    idle_audio = [t.audio.pcm for t in session.ticks if t.turn == 0]
    assert not any(any(pcm) for pcm in idle_audio)  # idle is silent
    speech = b"".join(t.audio.pcm for t in session.ticks if t.turn == 1)
    assert np.abs(np.frombuffer(speech, dtype=np.int16)).max() > 1000  # speech is heard

    # The summaries.
    assert first.outcome == gateway_pb2.TURN_OUTCOME_DONE and first.client_turn_id == "first"
    assert first.summary.spoken_text == "Hello there. Nice to meet you."
    assert first.summary.sentences == 2
    assert first.summary.frames == runs[1][1] - _holds(session.ticks, 1)
    assert first.summary.audio_seconds == pytest.approx(first.summary.frames / fps, abs=0.05)
    assert 0 < first.summary.time_to_first_audio_seconds < first.summary.total_seconds
    assert first.summary.real_time_factor > 0
    assert {stage.stage for stage in first.summary.stages} >= {"tts", "animator"}
    assert second.outcome == gateway_pb2.TURN_OUTCOME_INTERRUPTED
    assert second.client_turn_id == "second"
    assert 0 < len(second.summary.spoken_text) < len(LONG_TEXT)
    assert LONG_TEXT.startswith(second.summary.spoken_text.rstrip("."))

    # Sentence events come as each sentence begins to play, on the session clock.
    for event in session.of_kind("sentence"):
        ended = first if event.turn == 1 else second
        assert ended.start_frame / fps <= event.sentence.start_seconds < ended.end_frame / fps
    assert len([e for e in session.of_kind("sentence") if e.turn == 2]) == second.summary.sentences

    # Idle again at once: few speech frames were sent after the interrupt left the client
    # (those already on their way, and the server's lead of about 0.1 s).
    first_idle = second.end_frame
    assert session.ticks[first_idle].turn == 0 and session.ticks[first_idle - 1].turn == 2
    assert (first_idle - last_before_interrupt) / fps <= 0.4

    # Speech continues the idle loop's head pose: away from the mouth the first speech
    # frame is the idle loop frame of the index it was placed at, up to rendering noise.
    # It plays there, or a few frames later when the pipeline was late (a busy machine).
    size = started.idle_loop_frames
    loop = {t.frame.index % size: _pixels(t.frame)[:200] for t in session.ticks if t.turn == 0}
    speech_start = _pixels(session.ticks[first.start_frame].frame)[:200]  # above the mouth
    steps = [
        np.abs(speech_start - loop[(first.start_frame - late) % size]).mean() for late in range(8)
    ]
    moved = [np.abs(loop[k] - loop[(k + 1) % size]).mean() for k in range(size)]
    assert min(steps) < 0.5 and min(steps) < np.median(moved) / 2, (steps, moved)

    # The gateway's metrics saw the same.
    gateway_metric = stack.metric
    assert gateway_metric("gateway", "avatar_converse_turns_total", outcome="done") == 1
    assert gateway_metric("gateway", "avatar_converse_turns_total", outcome="interrupted") == 1
    assert gateway_metric("gateway", "avatar_converse_barge_in_seconds_count") == 1
    # Interrupt received -> first idle frame sent, well under 200 ms (typically 1 ms).
    assert gateway_metric("gateway", "avatar_converse_barge_in_seconds_bucket", le="0.2") == 1
    assert gateway_metric("gateway", "avatar_converse_time_to_first_audio_seconds_count") == 2
    assert gateway_metric("gateway", "avatar_converse_sessions") == 0


def _downstream_in_flight(stack: ReliabilityStack) -> float:
    return sum(stack.calls_in_flight(service) for service in ("tts", "animator", "llm"))


async def _settled(condition, timeout: float = 5.0) -> bool:
    """Whether ``condition()`` holds within ``timeout`` seconds (polled)."""
    for _ in range(int(timeout / 0.05)):
        if condition():
            return True
        await asyncio.sleep(0.05)
    return condition()


def _holds(ticks: list[Tick], turn: int) -> int:
    """Ticks of ``turn`` that repeated the frame before (the pipeline was behind)."""
    frames = [t.frame.data for t in ticks if t.turn == turn]
    return sum(1 for a, b in zip(frames, frames[1:], strict=False) if a == b)
