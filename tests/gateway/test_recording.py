"""The MP4 a Speak stream is recorded into while it streams, read back with PyAV."""

from __future__ import annotations

import asyncio
import io
import tempfile

import av
import numpy as np
import pytest

from avatar.common.v1 import media_pb2
from avatar_core.frames import RGB24, encode_frame
from avatar_gateway.recording import StreamRecorder

RATE = 16_000
FPS = 25.0


def _audio(offset: int, samples: int) -> media_pb2.AudioChunk:
    wave = (3000 * np.sin(np.arange(offset, offset + samples) / 10)).astype("<i2")
    return media_pb2.AudioChunk(pcm=wave.tobytes(), sample_rate=RATE, sample_offset=offset)


def _frames(first: int, count: int, encoding: int = media_pb2.FRAME_ENCODING_JPEG):
    return media_pb2.FrameBatch(
        frames=[
            encode_frame(np.full((48, 64, 3), 5 * (first + i), np.uint8), first + i, encoding)
            for i in range(count)
        ]
    )


def _read(data: bytes) -> dict:
    with av.open(io.BytesIO(data)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        facts = {
            "streams": sorted(stream.type for stream in container.streams),
            "codecs": (video.codec_context.name, audio.codec_context.name),
            "size": (video.width, video.height),
            "video_seconds": float(video.duration * video.time_base),
            "audio_seconds": float(audio.duration * audio.time_base),
        }
        facts["frames"] = sum(1 for _ in container.decode(video=0))
    return facts


async def _record(batches, chunks) -> tuple[bytes, StreamRecorder]:
    recorder = StreamRecorder(RATE, FPS)
    try:
        for batch, chunk in zip(batches, chunks, strict=True):
            recorder.add_audio(chunk)
            recorder.add_frames(batch)
        return await recorder.finish(), recorder
    finally:
        recorder.close()


async def test_one_second_of_stream_is_a_one_second_mp4_with_video_and_audio():
    # Five 0.2 s pieces: 3200 samples and 5 frames each.
    data, recorder = await _record(
        [_frames(5 * i, 5) for i in range(5)], [_audio(3200 * i, 3200) for i in range(5)]
    )
    facts = _read(data)
    assert facts["streams"] == ["audio", "video"]
    assert facts["codecs"] == ("h264", "aac")
    assert facts["size"] == (64, 48)
    assert facts["frames"] == 25
    assert facts["video_seconds"] == pytest.approx(1.0, abs=0.01)
    assert facts["audio_seconds"] == pytest.approx(1.0, abs=0.07)  # AAC's 1024-sample frames
    assert recorder.busy_seconds > 0


async def test_raw_rgb_frames_are_recorded_too():
    data, _ = await _record([_frames(0, 10, RGB24)], [_audio(0, 6400)])
    facts = _read(data)
    assert facts["frames"] == 10
    assert facts["video_seconds"] == pytest.approx(0.4, abs=0.01)


async def test_the_shorter_track_is_padded_to_the_longer_one():
    # 1 s of audio but only 0.6 s of frames: the last frame is held to the end.
    data, _ = await _record([_frames(0, 15)], [_audio(0, RATE)])
    facts = _read(data)
    assert facts["frames"] == 25
    assert facts["video_seconds"] == pytest.approx(1.0, abs=0.01)


async def test_a_frame_that_cannot_be_decoded_fails_the_recording():
    broken = media_pb2.FrameBatch(frames=[media_pb2.Frame(index=0, data=b"not a jpeg")])
    recorder = StreamRecorder(RATE, FPS)
    try:
        recorder.add_audio(_audio(0, 3200))
        recorder.add_frames(broken)
        with pytest.raises(ValueError):
            await recorder.finish()
    finally:
        recorder.close()


async def test_closing_an_unfinished_recording_removes_its_file(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    recorder = StreamRecorder(RATE, FPS)
    recorder.add_frames(_frames(0, 5))
    recorder.add_audio(_audio(0, 3200))
    await asyncio.sleep(0.2)
    assert list(tmp_path.iterdir())
    recorder.close()
    for _ in range(100):
        if not list(tmp_path.iterdir()):
            break
        await asyncio.sleep(0.02)
    assert list(tmp_path.iterdir()) == []
