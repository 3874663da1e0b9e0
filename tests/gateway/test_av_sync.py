"""The A/V offset the gateway measures from the time positions of what it sent."""

from __future__ import annotations

import pytest

from avatar.common.v1 import media_pb2
from avatar_gateway.metrics import AvSyncMeter

RATE = 16000
FPS = 25.0


def _audio(offset: int, samples: int) -> media_pb2.AudioChunk:
    return media_pb2.AudioChunk(pcm=bytes(2 * samples), sample_rate=RATE, sample_offset=offset)


def _frames(first: int, count: int) -> media_pb2.FrameBatch:
    return media_pb2.FrameBatch(frames=[media_pb2.Frame(index=first + i) for i in range(count)])


def test_sentences_padded_to_whole_frames_have_no_offset():
    meter = AvSyncMeter(FPS)
    meter.sentence(0.0)
    meter.audio(_audio(0, 8000))  # 0.5 s = 12.5 frames ...
    meter.frames(_frames(0, 13))
    meter.audio(_audio(8000, 320))  # ... padded with silence to 13 frames (0.52 s)
    meter.sentence(0.52)
    meter.frames(_frames(13, 10))
    meter.audio(_audio(8320, 6400))  # 0.4 s = 10 frames
    assert meter.offsets() == pytest.approx([0.0, 0.0], abs=1e-9)


def test_audio_running_past_the_frames_shows_as_a_positive_offset():
    meter = AvSyncMeter(FPS)
    meter.sentence(0.0)
    meter.audio(_audio(0, 16000))  # 1 s of audio
    meter.frames(_frames(0, 20))  # 0.8 s of video
    assert meter.offsets() == pytest.approx([0.2])


def test_pieces_count_for_the_sentence_they_fall_in_whatever_the_arrival_order():
    meter = AvSyncMeter(FPS)
    meter.sentence(0.0)
    meter.sentence(0.4)  # high quality: the next sentence starts before the frames arrive
    meter.audio(_audio(0, 6400))
    meter.audio(_audio(6400, 3200))
    meter.frames(_frames(0, 10))
    meter.frames(_frames(10, 4))  # 0.56 s of video for 0.6 s of audio in sentence 1
    assert meter.offsets() == pytest.approx([0.0, 0.04])


def test_a_stream_without_sentence_events_is_one_sentence():
    meter = AvSyncMeter(FPS)
    meter.frames(_frames(0, 5))
    meter.audio(_audio(0, 3000))
    assert meter.offsets() == pytest.approx([3000 / RATE - 0.2])
    assert AvSyncMeter(FPS).offsets() == []
