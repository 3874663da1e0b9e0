"""The deliver stage alone: what reaches the client is measured, and recorded into an MP4."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from avatar.common.v1 import media_pb2
from avatar.gateway.v1 import gateway_pb2
from avatar_core.frames import encode_frame
from avatar_gateway.stages import DeliverStage
from tests.support.stage_harness import RATE, StageHarness

FPS = 25


def _sentence(start_seconds: float) -> gateway_pb2.SpeakResponse:
    return gateway_pb2.SpeakResponse(sentence=gateway_pb2.Sentence(start_seconds=start_seconds))


def _audio(offset: int, samples: int) -> gateway_pb2.SpeakResponse:
    chunk = media_pb2.AudioChunk(pcm=bytes(2 * samples), sample_rate=RATE, sample_offset=offset)
    return gateway_pb2.SpeakResponse(audio=chunk)


def _frames(first: int, count: int) -> gateway_pb2.SpeakResponse:
    image = np.full((64, 64, 3), 128, np.uint8)
    batch = media_pb2.FrameBatch(frames=[encode_frame(image, first + i) for i in range(count)])
    return gateway_pb2.SpeakResponse(frames=batch)


def _one_second() -> list[gateway_pb2.SpeakResponse]:
    """Two sentences (0.52 s + 0.48 s), each padded to whole frames: 1 s, 25 frames."""
    return [
        _sentence(0.0),
        _audio(0, 8000),
        _frames(0, 13),
        _audio(8000, 320),
        _sentence(0.52),
        _audio(8320, 7680),
        _frames(13, 12),
    ]


def _deliver_all(harness: StageHarness) -> DeliverStage:
    harness.measurements.sample_rate = RATE
    stage = DeliverStage(harness.context)
    for event in _one_second():
        stage.deliver(event)
    return stage


async def _finish(stage: DeliverStage) -> list[gateway_pb2.SpeakResponse]:
    try:
        return [chunk async for chunk in stage.finish()]
    finally:
        stage.close()


async def test_frames_are_counted_and_the_first_frame_time_noted():
    harness = StageHarness()
    harness.measurements.sample_rate = RATE
    stage = DeliverStage(harness.context)
    stage.deliver(_sentence(0.0))
    stage.deliver(_audio(0, 8000))
    assert harness.measurements.first_frame_at is None
    stage.deliver(_frames(0, 13))
    first_frame_at = harness.measurements.first_frame_at
    assert first_frame_at is not None
    stage.deliver(_frames(13, 2))
    assert harness.measurements.first_frame_at == first_frame_at
    assert harness.measurements.frames == 15


async def test_the_av_offsets_of_what_was_sent_are_recorded_at_the_end():
    harness = StageHarness()
    stage = _deliver_all(harness)
    assert await _finish(stage) == []  # no MP4 asked for
    assert harness.measurements.av_offsets == pytest.approx([0.0, 0.0])
    assert "mux" not in harness.measurements.stage_seconds


async def test_a_sentence_whose_audio_ends_late_shows_its_offset():
    harness = StageHarness()
    harness.measurements.sample_rate = RATE
    stage = DeliverStage(harness.context)
    for event in (_sentence(0.0), _audio(0, 8000), _frames(0, 12)):  # 0.5 s of audio, 0.48 video
        stage.deliver(event)
    await _finish(stage)
    assert harness.measurements.av_offsets == pytest.approx([0.02])


async def test_the_recorded_mp4_holds_what_was_sent():
    harness = StageHarness(plan_changes={"include_mp4": True})
    stage = _deliver_all(harness)
    chunks = await _finish(stage)
    assert chunks and [chunk.video.last for chunk in chunks] == [False] * (len(chunks) - 1) + [True]
    data = b"".join(chunk.video.data for chunk in chunks)
    with av.open(io.BytesIO(data)) as container:
        video = container.streams.video[0]
        assert sum(1 for _ in container.decode(video=0)) == 25
        assert float(video.duration * video.time_base) == pytest.approx(1.0, abs=0.05)
        assert len(container.streams.audio) == 1
    assert harness.measurements.stage_seconds["mux"] > 0
