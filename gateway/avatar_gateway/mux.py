"""MP4 and GIF encoding of rendered speech (no gRPC here).

:class:`Mp4Writer` encodes H.264 video (yuv420p, libx264) and AAC audio into one MP4
while frames and audio still arrive, so only the last few frames are left to
encode when a stream ends. The result has its index at the front ("faststart"), so
players start before the whole file has loaded, and its video and audio tracks
last equally long: the shorter track is padded (the last frame repeated, or
silence), never trimmed. :func:`write_mp4` does the same in one call, and
:func:`make_gif` makes the looping poster shown while an avatar is silent.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from fractions import Fraction

import av
import numpy as np
from PIL import Image

from avatar_core.images import decode_jpeg

# Rates every AAC player handles; other rates are resampled to one of them.
_AAC_RATES = (44100, 48000)
_MAX_FPS = 240.0
# GIF frame delays are whole centiseconds, and browsers slow delays under 20 ms to 100 ms.
_MIN_GIF_DELAY_MS = 20

Frame = np.ndarray | bytes


class MuxError(ValueError):
    """The audio or frames cannot be encoded (bad shape, type or settings)."""


def write_mp4(
    audio: np.ndarray,
    sample_rate: int,
    frames: Iterable[Frame],
    fps: float,
    *,
    size: tuple[int, int] | None = None,
) -> bytes:
    """Encodes mono audio and frames into an MP4 (H.264 + AAC) in memory.

    Audio is interleaved with the frames it belongs to, so the muxer never holds
    more than a frame's worth of packets.

    Args:
        audio: Samples, int16, one dimension (mono).
        sample_rate: Samples per second of ``audio``.
        frames: RGB images (height x width x 3, uint8) or JPEG bytes, in order.
        fps: Frames per second.
        size: Output ``(width, height)``; the first frame's size when omitted.
            Frames of another size are scaled; odd sizes are rounded down to even.

    Returns:
        The MP4 file's bytes. It has ``max(len(frames), ceil(audio seconds * fps))``
        frames, and audio padded with silence to the same duration.

    Raises:
        MuxError: Bad audio, frames or settings, or no frames and no size.
    """
    samples = _check_audio(audio)
    with Mp4Writer(sample_rate, fps, size=size) as writer:
        written = 0
        for index, frame in enumerate(frames):
            writer.add_frame(frame)
            # The audio that plays until the end of this frame.
            until = min(len(samples), math.ceil((index + 1) * sample_rate / writer.fps))
            writer.add_audio(samples[written:until])
            written = max(written, until)
        writer.add_audio(samples[written:])
        return writer.finish()


class Mp4Writer:
    """Encodes an MP4 incrementally: add audio and frames in any order, then finish.

    Use as a context manager (or call :meth:`close`) so an unfinished file is
    removed when encoding stops early.

    Args:
        sample_rate: Samples per second of the audio that will be added.
        fps: Frames per second of the video.
        size: Output ``(width, height)``; the first frame's size when omitted.
        crf: x264 constant rate factor (lower is better and bigger; 23 is the default).
        preset: x264 speed preset; "veryfast" encodes 512x512 faster than real time
            on one core.
    """

    def __init__(
        self,
        sample_rate: int,
        fps: float,
        *,
        size: tuple[int, int] | None = None,
        crf: int = 23,
        preset: str = "veryfast",
    ) -> None:
        if not 0 < fps <= _MAX_FPS:
            raise MuxError(f"fps must be in (0, {_MAX_FPS:g}], got {fps}")
        if not 1000 <= sample_rate <= 384_000:
            raise MuxError(f"sample rate must be 1000-384000 Hz, got {sample_rate}")
        self.fps = Fraction(fps).limit_denominator(1001)
        self.sample_rate = sample_rate
        self._size = _even_size(size) if size is not None else None
        self._crf = crf
        self._preset = preset
        self._pending_audio: list[np.ndarray] = []
        self._audio_samples = 0
        self._frames = 0
        self._last_frame: av.VideoFrame | None = None
        self._container: av.container.OutputContainer | None = None
        self._video = None
        self._audio = None
        descriptor, self._path = tempfile.mkstemp(prefix="avatar-", suffix=".mp4")
        os.close(descriptor)

    @property
    def frames(self) -> int:
        """Frames added so far."""
        return self._frames

    @property
    def audio_seconds(self) -> float:
        """Seconds of audio added so far."""
        return self._audio_samples / self.sample_rate

    def add_audio(self, samples: np.ndarray) -> None:
        """Appends mono int16 samples at :attr:`sample_rate`."""
        samples = _check_audio(samples)
        if not len(samples):
            return
        if self._container is None:
            # The video size is not known yet, so the file cannot start: keep the audio.
            self._pending_audio.append(samples.copy())
            return
        self._encode_audio(samples)

    def add_frame(self, frame: Frame) -> None:
        """Appends one frame: an RGB image (height x width x 3, uint8) or JPEG bytes."""
        rgb = _to_rgb(frame)
        if self._container is None:
            self._start(self._size or _even_size((rgb.shape[1], rgb.shape[0])))
        video_frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        self._encode_video(video_frame)
        self._last_frame = video_frame

    def finish(self) -> bytes:
        """Pads the shorter track, flushes the encoders and returns the MP4's bytes.

        Raises:
            MuxError: No frame was added and no size was given.
        """
        if self._container is None:
            if self._size is None:
                raise MuxError("no frames to encode: add a frame or give the video size")
            self._start(self._size)
        needed = math.ceil(Fraction(self._audio_samples) * self.fps / self.sample_rate)
        while self._frames < needed:
            self._encode_video(self._last_frame or self._black_frame())
        target_samples = round(Fraction(self._frames) / self.fps * self.sample_rate)
        if target_samples > self._audio_samples:
            self._encode_audio(np.zeros(target_samples - self._audio_samples, dtype=np.int16))
        container = self._container
        for stream in (self._video, self._audio):
            for packet in stream.encode(None):
                container.mux(packet)
        container.close()
        self._container = None
        with open(self._path, "rb") as file:
            data = file.read()
        self.close()
        return data

    def close(self) -> None:
        """Releases the encoder and removes the temporary file; safe to call twice."""
        if self._container is not None:
            # An unfinished file is discarded anyway, so a failing close does not matter.
            with contextlib.suppress(av.FFmpegError):
                self._container.close()
            self._container = None
        if os.path.exists(self._path):
            os.unlink(self._path)

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _start(self, size: tuple[int, int]) -> None:
        """Opens the file with both streams, then encodes the audio kept so far."""
        # faststart moves the index to the front in a second pass over the file, which
        # needs a real file: in-memory outputs cannot be reopened by the muxer.
        container = av.open(self._path, "w", format="mp4", options={"movflags": "faststart"})
        video = container.add_stream("libx264", rate=self.fps)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        video.options = {"crf": str(self._crf), "preset": self._preset}
        audio = container.add_stream("aac", rate=_aac_rate(self.sample_rate))
        audio.layout = "mono"
        self._container, self._video, self._audio = container, video, audio
        self._size = size
        pending, self._pending_audio = self._pending_audio, []
        for samples in pending:
            self._encode_audio(samples)

    def _encode_video(self, frame: av.VideoFrame) -> None:
        frame.pts = self._frames
        frame.time_base = 1 / self.fps
        for packet in self._video.encode(frame):
            self._container.mux(packet)
        self._frames += 1

    def _encode_audio(self, samples: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.sample_rate
        frame.pts = self._audio_samples
        frame.time_base = Fraction(1, self.sample_rate)
        # The encoder resamples to its rate and regroups into AAC's 1024-sample frames.
        for packet in self._audio.encode(frame):
            self._container.mux(packet)
        self._audio_samples += len(samples)

    def _black_frame(self) -> av.VideoFrame:
        width, height = self._size
        return av.VideoFrame.from_ndarray(np.zeros((height, width, 3), np.uint8), format="rgb24")


def make_gif(frames: Sequence[Frame], fps: float, *, max_size: int = 256) -> bytes:
    """Makes an animated GIF that loops forever (the avatar's poster).

    All frames share one palette and are not dithered, so still areas do not shimmer.

    Args:
        frames: RGB images (height x width x 3, uint8) or JPEG bytes, in order.
        fps: Frames per second; delays are rounded to GIF's 10 ms steps.
        max_size: Longest side of the GIF in pixels; larger frames are scaled down.

    Returns:
        The GIF's bytes.

    Raises:
        MuxError: No frames, bad frames or bad settings.
    """
    if not frames:
        raise MuxError("no frames for the GIF")
    if not 0 < fps <= _MAX_FPS:
        raise MuxError(f"fps must be in (0, {_MAX_FPS:g}], got {fps}")
    if max_size < 16:
        raise MuxError(f"max_size must be at least 16 pixels, got {max_size}")
    images = []
    for frame in frames:
        image = Image.fromarray(_to_rgb(frame))
        image.thumbnail((max_size, max_size), Image.Resampling.LANCZOS)
        images.append(image)
    palette = _shared_palette(images)
    indexed = [image.quantize(palette=palette, dither=Image.Dither.NONE) for image in images]
    delay = max(_MIN_GIF_DELAY_MS, round(100.0 / fps) * 10)
    output = io.BytesIO()
    indexed[0].save(
        output,
        format="GIF",
        save_all=True,
        append_images=indexed[1:],
        duration=delay,
        loop=0,
        disposal=1,
    )
    return output.getvalue()


def _shared_palette(images: list[Image.Image], samples: int = 8) -> Image.Image:
    """A 256-colour palette built from up to ``samples`` frames spread over the clip."""
    step = max(1, len(images) // samples)
    chosen = images[::step][:samples]
    width = max(image.width for image in chosen)
    montage = Image.new("RGB", (width, sum(image.height for image in chosen)))
    top = 0
    for image in chosen:
        montage.paste(image, (0, top))
        top += image.height
    return montage.quantize(colors=256, method=Image.Quantize.MEDIANCUT)


def _check_audio(samples: np.ndarray) -> np.ndarray:
    samples = np.asarray(samples)
    if samples.dtype != np.int16 or samples.ndim != 1:
        raise MuxError(
            f"audio must be mono int16 samples (one dimension), got {samples.dtype} "
            f"with shape {samples.shape}"
        )
    return samples


def _to_rgb(frame: Frame) -> np.ndarray:
    if isinstance(frame, bytes | bytearray | memoryview):
        try:
            return decode_jpeg(bytes(frame))
        except ValueError as error:
            raise MuxError(f"frame is not a decodable JPEG: {error}") from None
    rgb = np.asarray(frame)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or 0 in rgb.shape:
        raise MuxError(f"expected an RGB uint8 frame, got shape {rgb.shape} {rgb.dtype}")
    return np.ascontiguousarray(rgb)


def _even_size(size: tuple[int, int]) -> tuple[int, int]:
    """yuv420p stores colour per 2x2 block, so H.264 needs even sides."""
    width, height = (int(side) for side in size)
    if width < 2 or height < 2:
        raise MuxError(f"video size must be at least 2x2, got {width}x{height}")
    return width - width % 2, height - height % 2


def _aac_rate(sample_rate: int) -> int:
    if sample_rate in _AAC_RATES:
        return sample_rate
    # 22050 -> 44100 is an exact doubling; everything else goes to 48 kHz.
    return 44100 if 44100 % sample_rate == 0 else 48000
