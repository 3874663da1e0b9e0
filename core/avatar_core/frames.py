"""Conversions between ``avatar.common.v1`` frames/audio and numpy arrays."""

from __future__ import annotations

import numpy as np

from avatar.common.v1 import media_pb2
from avatar_core.images import jpeg_to_rgb, rgb_to_jpeg

JPEG = media_pb2.FRAME_ENCODING_JPEG
RGB24 = media_pb2.FRAME_ENCODING_RGB24


MAX_FRAME_PIXELS = 2048 * 2048
"""Most pixels a received frame may have (the animator renders at most 2048 x 2048)."""

# Markers without a length field (TEM, RST0-7, SOI, EOI), and the start-of-frame markers
# (SOF0-15 except DHT, JPG and DAC) whose segment holds the image size.
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xDA)})
_START_OF_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


class FrameFormatError(ValueError):
    """A frame's bytes do not match its stated encoding or size."""


def encode_frame(
    rgb: np.ndarray, index: int, encoding: int = JPEG, quality: int = 85
) -> media_pb2.Frame:
    """Encodes an RGB image (height x width x 3, uint8) as a ``Frame``.

    Args:
        rgb: The image.
        index: Frame index from the start of the stream.
        encoding: ``FRAME_ENCODING_JPEG`` (also for UNSPECIFIED) or ``FRAME_ENCODING_RGB24``.
        quality: JPEG quality, 1-100.
    """
    height, width = rgb.shape[:2]
    if encoding == RGB24:
        data = np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()
    else:
        encoding = JPEG
        try:
            data = rgb_to_jpeg(rgb, quality)
        except ValueError as error:
            raise FrameFormatError(f"JPEG encoding failed: {error}") from None
    return media_pb2.Frame(index=index, data=data, width=width, height=height, encoding=encoding)


def decode_frame(frame: media_pb2.Frame) -> np.ndarray:
    """Decodes a ``Frame`` into an RGB image; raises :class:`FrameFormatError` when invalid.

    Frames come from the network, so the size is checked before any pixel is decoded: a
    frame may hold at most :data:`MAX_FRAME_PIXELS` pixels, and a JPEG must be the size
    its frame states (when it states one). Other image formats are refused, so a small
    compressed file cannot make the decoder allocate gigabytes.
    """
    if frame.width * frame.height > MAX_FRAME_PIXELS:
        raise FrameFormatError(
            f"frame {frame.index}: {frame.width}x{frame.height} is over the limit of "
            f"{MAX_FRAME_PIXELS} pixels"
        )
    if frame.encoding == RGB24:
        expected = frame.width * frame.height * 3
        if frame.width == 0 or frame.height == 0 or len(frame.data) != expected:
            raise FrameFormatError(
                f"frame {frame.index}: RGB24 data is {len(frame.data)} bytes, "
                f"expected {expected} for {frame.width}x{frame.height}"
            )
        return np.frombuffer(frame.data, dtype=np.uint8).reshape(frame.height, frame.width, 3)
    if frame.encoding not in (JPEG, media_pb2.FRAME_ENCODING_UNSPECIFIED):
        raise FrameFormatError(f"frame {frame.index}: unknown encoding {frame.encoding}")
    size = jpeg_size(frame.data)
    if size is None:
        raise FrameFormatError(f"frame {frame.index}: data is not a valid JPEG image")
    width, height = size
    if width * height > MAX_FRAME_PIXELS:
        raise FrameFormatError(
            f"frame {frame.index}: the JPEG is {width}x{height}, over the limit of "
            f"{MAX_FRAME_PIXELS} pixels"
        )
    if frame.width and frame.height and (width, height) != (frame.width, frame.height):
        raise FrameFormatError(
            f"frame {frame.index}: the JPEG is {width}x{height} but the frame says "
            f"{frame.width}x{frame.height}"
        )
    image = jpeg_to_rgb(frame.data)
    if image is None:
        raise FrameFormatError(f"frame {frame.index}: data is not a valid JPEG image")
    return image


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Reads (width, height) from a JPEG's frame header without decoding it.

    Returns:
        The size, or None when ``data`` is not a JPEG or ends before its frame header.
    """
    if data[:2] != b"\xff\xd8":
        return None
    offset = 2
    while offset + 4 <= len(data):
        if data[offset] != 0xFF:
            return None
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte before a marker
            offset += 1
            continue
        if marker in _STANDALONE_MARKERS:
            offset += 2
            continue
        length = int.from_bytes(data[offset + 2 : offset + 4], "big")
        if marker in _START_OF_FRAME_MARKERS:
            if length < 7 or offset + 9 > len(data):
                return None
            height = int.from_bytes(data[offset + 5 : offset + 7], "big")
            width = int.from_bytes(data[offset + 7 : offset + 9], "big")
            return (width, height) if width and height else None
        if length < 2:
            return None
        offset += 2 + length
    return None


def pcm_to_samples(pcm: bytes) -> np.ndarray:
    """Interprets s16le mono PCM bytes as int16 samples; an odd byte count is an error."""
    if len(pcm) % 2:
        raise FrameFormatError(f"PCM chunk has an odd number of bytes ({len(pcm)})")
    return np.frombuffer(pcm, dtype="<i2").astype(np.int16, copy=False)
