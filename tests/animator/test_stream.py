"""One Animate stream without gRPC: batching, gaps filled with silence, the end, timings."""

from __future__ import annotations

import asyncio
import math
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from avatar_animator.engine import MotionSettings
from avatar_animator.errors import AnimationInputError
from avatar_animator.metrics import AnimatorMetrics
from avatar_animator.stream import AnimateStream, StreamSettings
from avatar_core.timing import Phoneme

SAMPLE_RATE = 16000
FPS = 25.0
STEADY = MotionSettings(seed=5, blinks_per_minute=0.0, still_head=True)


def _pcm(seconds: float, amplitude: int = 8000) -> bytes:
    times = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (np.sin(2 * np.pi * 200 * times) * amplitude).astype("<i2").tobytes()


def _index_of(rgb: np.ndarray, index: int) -> int:
    """An encoder that keeps only the index (and checks the frame is a real image)."""
    assert rgb.dtype == np.uint8 and rgb.ndim == 3
    return index


def _stream(face, batch_size: int = 4, max_audio_seconds: float = 60.0, **kwargs):
    settings = StreamSettings(
        fps=FPS, batch_size=batch_size, max_audio_seconds=max_audio_seconds, motion=STEADY
    )
    return AnimateStream(face, settings, _index_of, **kwargs)


def _taken(stream, *, flush: bool = False) -> list[tuple[int, list[int]]]:
    return [(batch.sequence, batch.frames) for batch in stream.batches(flush=flush)]


async def test_the_first_frame_leaves_alone_then_whole_batches_and_the_rest_at_the_end(
    sample_face,
):
    stream = _stream(sample_face, batch_size=4)
    stream.start(SAMPLE_RATE)
    batches = []
    for offset in range(0, SAMPLE_RATE, 1600):  # 0.1 s chunks
        await stream.add_audio(_pcm(0.1), offset)
        taken = _taken(stream)
        # Before the end only whole batches leave, except the very first frame.
        assert all(len(frames) == 4 or sequence == 1 for sequence, frames in taken)
        batches += taken
    await stream.finish()
    batches += _taken(stream, flush=True)
    sizes = [len(frames) for _, frames in batches]
    assert sizes[0] == 1
    assert all(size == 4 for size in sizes[1:-1]) and 1 <= sizes[-1] <= 4
    assert [sequence for sequence, _ in batches] == list(range(1, len(batches) + 1))
    assert [index for _, frames in batches for index in frames] == list(range(25))
    assert (stream.batches_sent, stream.frames_sent) == (len(batches), 25)
    assert _taken(stream, flush=True) == []


async def test_an_unfinished_batch_waits_for_more_frames(sample_face):
    stream = _stream(sample_face, batch_size=100)
    await stream.add_audio(_pcm(0.5), 0, SAMPLE_RATE)
    [(sequence, frames)] = _taken(stream)  # the first frame, at once
    assert (sequence, frames) == (1, [0])
    assert _taken(stream) == []  # the rest wait for a whole batch
    await stream.finish()
    [(sequence, frames)] = _taken(stream, flush=True)
    assert sequence == 2 and frames == list(range(1, 13))  # ceil(0.5 s * 25 fps)


@pytest.mark.parametrize(
    ("chunks", "seconds"),
    [
        ([(0, 0.2), (0.6, 0.2)], 0.8),  # silence skipped between two chunks
        ([(0.4, 0.2)], 0.6),  # speech that starts late
    ],
)
async def test_a_gap_before_a_chunk_is_filled_with_silence(sample_face, chunks, seconds):
    stream = _stream(sample_face)
    stream.start(SAMPLE_RATE)
    for start, length in chunks:
        await stream.add_audio(_pcm(length), round(start * SAMPLE_RATE))
    await stream.finish()
    frames = [index for _, batch in _taken(stream, flush=True) for index in batch]
    assert frames == list(range(math.ceil(seconds * FPS)))


async def test_the_sample_rate_may_arrive_with_the_first_chunk(sample_face):
    stream = _stream(sample_face)
    assert not stream.started
    with pytest.raises(AnimationInputError, match="sample_rate is unknown"):
        await stream.add_audio(_pcm(0.1), 0)
    await stream.add_audio(_pcm(0.1), 0, SAMPLE_RATE)
    assert stream.started
    with pytest.raises(AnimationInputError, match="8000 Hz in a 16000 Hz stream"):
        await stream.add_audio(_pcm(0.1), 1600, 8000)


@pytest.mark.parametrize(
    ("pcm", "offset", "message"),
    [
        (_pcm(0.1), 800, "overlaps earlier audio"),
        (b"abc", 1600, "odd number of bytes"),
        (_pcm(0.6), 1600, "longer than the 0.5 s limit"),
    ],
)
async def test_unusable_audio_is_refused(sample_face, pcm, offset, message):
    stream = _stream(sample_face, max_audio_seconds=0.5)
    await stream.add_audio(_pcm(0.1), 0, SAMPLE_RATE)
    with pytest.raises(AnimationInputError, match=message):
        await stream.add_audio(pcm, offset)


async def test_an_empty_stream_ends_with_no_frames(sample_face):
    stream = _stream(sample_face)
    await stream.finish()
    assert _taken(stream, flush=True) == []
    assert (stream.batches_sent, stream.frames_sent, stream.used_timings) == (0, 0, False)


async def test_no_audio_is_accepted_after_the_end(sample_face):
    stream = _stream(sample_face)
    await stream.add_audio(_pcm(0.2), 0, SAMPLE_RATE)
    await stream.finish()
    with pytest.raises(AnimationInputError, match="finished"):
        await stream.add_audio(_pcm(0.1), 3200)


def _driven_frames(registry: CollectorRegistry, driver: str) -> float:
    return registry.get_sample_value("avatar_animator_frames_total", {"driver": driver}) or 0.0


async def test_audio_alone_drives_the_mouth_without_timings(sample_face):
    registry = CollectorRegistry()
    stream = _stream(sample_face, metrics=AnimatorMetrics(registry))
    await stream.add_audio(_pcm(0.4), 0, SAMPLE_RATE)
    await stream.finish()
    assert stream.used_timings is False
    assert len([i for _, frames in _taken(stream, flush=True) for i in frames]) == 10
    assert _driven_frames(registry, "audio") == 10
    assert _driven_frames(registry, "timings") == 0
    count = registry.get_sample_value("avatar_animator_frame_seconds_count", {"step": "render"})
    assert count and count > 0


async def test_timings_sent_before_the_audio_drive_the_mouth_and_pace_the_frames(sample_face):
    registry = CollectorRegistry()
    timed = _stream(sample_face, metrics=AnimatorMetrics(registry))
    untimed = _stream(sample_face)
    # The phonemes come first (before the sample rate is known) and cover only 0.2 s.
    await timed.add_phonemes([Phoneme("_", 0.0, 0.1), Phoneme("a", 0.1, 0.2, stressed=True)])
    assert timed.used_timings
    for stream in (timed, untimed):
        await stream.add_audio(_pcm(1.0), 0, SAMPLE_RATE)
        await stream.render_rest()  # after the first frame, which is rendered alone
    # Frames beyond the phonemes wait for more of them; the audio alone does not wait.
    timed_ready = len([i for _, frames in _taken(timed, flush=True) for i in frames])
    untimed_ready = len([i for _, frames in _taken(untimed, flush=True) for i in frames])
    assert timed_ready < untimed_ready
    await timed.add_phonemes([Phoneme("m", 0.2, 0.5), Phoneme("_", 0.5, 1.0)])
    await timed.finish()
    rest = [i for _, frames in _taken(timed, flush=True) for i in frames]
    assert timed_ready + len(rest) == 25 and rest[-1] == 24
    assert timed.used_timings
    assert _driven_frames(registry, "timings") == 25
    assert _driven_frames(registry, "audio") == 0


async def test_a_bad_phoneme_is_refused(sample_face):
    stream = _stream(sample_face)
    stream.start(SAMPLE_RATE)
    with pytest.raises(AnimationInputError, match="non-finite"):
        await stream.add_phonemes([Phoneme("a", 0.0, float("nan"))])


async def test_rendering_and_encoding_run_off_the_event_loop(sample_face):
    threads = set()

    def encode(rgb: np.ndarray, index: int) -> int:
        threads.add(threading.current_thread().name)
        return index

    settings = StreamSettings(fps=FPS, batch_size=5, max_audio_seconds=10.0, motion=STEADY)
    with ThreadPoolExecutor(1, thread_name_prefix="render") as pool:

        async def in_pool(function, *args):
            return await asyncio.get_running_loop().run_in_executor(pool, function, *args)

        stream = AnimateStream(sample_face, settings, encode, in_pool)
        await stream.add_audio(_pcm(0.3), 0, SAMPLE_RATE)
        await stream.finish()
    # 8 frames: the first alone, then a batch of 5, then the last 2.
    assert stream.frames_sent == 0 and len(list(stream.batches(flush=True))) == 3
    assert threads and all(name.startswith("render") for name in threads)


async def test_the_first_frame_is_rendered_alone_so_it_leaves_before_the_rest(sample_face):
    stream = _stream(sample_face)
    await stream.add_audio(_pcm(1.0), 0, SAMPLE_RATE)
    # A second of audio allows many frames, but only the first is made before it can leave.
    assert [frames for _, frames in _taken(stream)] == [[0]]
    assert stream.rest_due
    await stream.render_rest()
    assert not stream.rest_due
    ready = [i for _, frames in _taken(stream, flush=True) for i in frames]
    assert ready[0] == 1 and len(ready) > 10
    # Later input renders everything it allows at once.
    await stream.add_audio(_pcm(0.5), SAMPLE_RATE, SAMPLE_RATE)
    assert not stream.rest_due
