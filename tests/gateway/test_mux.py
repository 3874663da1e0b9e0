"""MP4 and GIF encoding: codecs, frame rate, duration agreement and looping."""

from __future__ import annotations

import io
import math

import av
import numpy as np
import pytest
from PIL import Image

from avatar_core.images import encode_jpeg
from avatar_gateway.mux import Mp4Writer, MuxError, make_gif, write_mp4


def _frame(index: int, width: int = 96, height: int = 64) -> np.ndarray:
    """A frame whose content moves, so each one differs from the last."""
    yy, xx = np.mgrid[0:height, 0:width]
    red = ((xx + 7 * index) % width) * 255 // width
    green = ((yy + 3 * index) % height) * 255 // height
    blue = np.full_like(red, (index * 37) % 256)
    return np.stack([red, green, blue], axis=-1).astype(np.uint8)


def _tone(seconds: float, sample_rate: int) -> np.ndarray:
    times = np.arange(round(seconds * sample_rate)) / sample_rate
    return (np.sin(2 * np.pi * 440 * times) * 8000).astype(np.int16)


def _probe(data: bytes) -> dict:
    with av.open(io.BytesIO(data)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
        return {
            "video_codec": video.codec_context.name,
            "audio_codec": audio.codec_context.name,
            "pix_fmt": video.codec_context.pix_fmt,
            "fps": video.average_rate,
            "size": (video.codec_context.width, video.codec_context.height),
            "sample_rate": audio.codec_context.sample_rate,
            "channels": audio.codec_context.channels,
            "video_seconds": float(video.duration * video.time_base),
            "audio_seconds": float(audio.duration * audio.time_base),
            "frames": decoded,
        }


@pytest.mark.parametrize(
    ("sample_rate", "aac_rate"), [(22050, 44100), (16000, 48000), (48000, 48000)]
)
def test_mp4_has_h264_and_aac_with_matching_durations(sample_rate, aac_rate):
    audio_seconds = 1.23
    expected_frames = math.ceil(audio_seconds * 25)
    frames = [_frame(i) for i in range(expected_frames)]
    info = _probe(write_mp4(_tone(audio_seconds, sample_rate), sample_rate, frames, 25.0))
    assert (info["video_codec"], info["audio_codec"]) == ("h264", "aac")
    assert info["pix_fmt"] == "yuv420p"
    assert info["fps"] == 25
    assert info["size"] == (96, 64)
    assert (info["sample_rate"], info["channels"]) == (aac_rate, 1)
    assert len(info["frames"]) == expected_frames
    assert abs(info["video_seconds"] - expected_frames / 25) < 1e-6
    assert abs(info["video_seconds"] - info["audio_seconds"]) < 0.040


def test_mp4_frames_keep_their_content_and_order():
    frames = [_frame(i) for i in range(10)]
    info = _probe(write_mp4(_tone(0.4, 16000), 16000, frames, 25.0))
    for original, decoded in zip(frames, info["frames"], strict=True):
        assert np.abs(original.astype(int) - decoded.astype(int)).mean() < 12


def test_short_video_is_padded_with_the_last_frame_to_the_audio():
    frames = [_frame(i) for i in range(5)]
    info = _probe(write_mp4(_tone(1.0, 22050), 22050, frames, 25.0))
    assert len(info["frames"]) == 25
    last = info["frames"][-1].astype(int)
    # Lossy coding may refine a repeated frame, so compare contents, not bytes.
    assert np.abs(last - frames[4]).mean() < 8 < np.abs(last - frames[3]).mean()
    assert abs(info["video_seconds"] - info["audio_seconds"]) < 0.040


def test_short_audio_is_padded_with_silence_to_the_video():
    frames = [_frame(i) for i in range(50)]
    info = _probe(write_mp4(_tone(0.3, 22050), 22050, frames, 25.0))
    assert len(info["frames"]) == 50
    assert abs(info["audio_seconds"] - 2.0) < 0.040


def test_jpeg_frames_odd_sizes_and_an_explicit_size_are_accepted():
    jpegs = [encode_jpeg(_frame(i, width=101, height=75)) for i in range(5)]
    info = _probe(write_mp4(_tone(0.2, 16000), 16000, jpegs, 25.0))
    assert info["size"] == (100, 74)
    info = _probe(write_mp4(_tone(0.2, 16000), 16000, jpegs, 25.0, size=(64, 48)))
    assert info["size"] == (64, 48)


def test_incremental_writer_accepts_audio_before_frames_and_in_any_chunks():
    sample_rate = 24000
    audio = _tone(0.8, sample_rate)
    with Mp4Writer(sample_rate, 25.0) as writer:
        writer.add_audio(audio[:5000])
        for index in range(20):
            writer.add_frame(_frame(index))
            if index == 10:
                writer.add_audio(audio[5000:5001])
        writer.add_audio(audio[5001:])
        assert writer.frames == 20
        assert abs(writer.audio_seconds - 0.8) < 1e-9
        info = _probe(writer.finish())
    assert len(info["frames"]) == 20
    assert abs(info["video_seconds"] - 0.8) < 1e-6
    assert abs(info["audio_seconds"] - 0.8) < 0.040


def test_audio_only_needs_a_size_and_gives_black_frames():
    with Mp4Writer(16000, 25.0, size=(32, 32)) as writer:
        writer.add_audio(_tone(0.2, 16000))
        info = _probe(writer.finish())
    assert len(info["frames"]) == 5
    assert info["frames"][0].max() < 20
    with Mp4Writer(16000, 25.0) as writer, pytest.raises(MuxError, match="no frames"):
        writer.finish()


@pytest.mark.parametrize(
    ("audio", "frames", "fps", "message"),
    [
        (np.zeros(10, np.float32), [_frame(0)], 25.0, "int16"),
        (np.zeros((2, 10), np.int16), [_frame(0)], 25.0, "one dimension"),
        (np.zeros(10, np.int16), [np.zeros((4, 4), np.uint8)], 25.0, "RGB"),
        (np.zeros(10, np.int16), [b"not a jpeg"], 25.0, "JPEG"),
        (np.zeros(10, np.int16), [_frame(0)], 0.0, "fps"),
    ],
)
def test_bad_input_raises_mux_error(audio, frames, fps, message):
    with pytest.raises(MuxError, match=message):
        write_mp4(audio, 16000, frames, fps)


def test_gif_is_animated_loops_forever_and_fits_max_size():
    frames = [_frame(i, width=320, height=200) for i in range(6)]
    data = make_gif(frames, 12.5, max_size=128)
    with Image.open(io.BytesIO(data)) as gif:
        assert gif.format == "GIF"
        assert gif.is_animated and gif.n_frames == 6
        assert gif.info["loop"] == 0
        assert gif.info["duration"] == 80
        assert gif.size == (128, 80)


def test_gif_accepts_jpeg_frames_and_rejects_nothing():
    data = make_gif([encode_jpeg(_frame(i)) for i in range(3)], 25.0)
    with Image.open(io.BytesIO(data)) as gif:
        assert gif.n_frames == 3 and gif.size == (96, 64)
    with pytest.raises(MuxError, match="no frames"):
        make_gif([], 25.0)


def test_no_temporary_file_is_left_behind(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    write_mp4(_tone(0.2, 16000), 16000, [_frame(0)], 25.0)
    with pytest.raises(MuxError):
        write_mp4(_tone(0.2, 16000), 16000, [_frame(0), b"broken"], 25.0)
    assert list(tmp_path.iterdir()) == []
