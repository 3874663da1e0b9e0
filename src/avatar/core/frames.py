"""Conversions between ``avatar.common.v1`` frames/audio and numpy arrays."""

from __future__ import annotations

import cv2
import numpy as np

from avatar.common.v1 import media_pb2

JPEG = media_pb2.FRAME_ENCODING_JPEG
RGB24 = media_pb2.FRAME_ENCODING_RGB24


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
        ok, buffer = cv2.imencode(
            ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
        )
        if not ok:
            raise FrameFormatError("JPEG encoding failed")
        data = buffer.tobytes()
    return media_pb2.Frame(index=index, data=data, width=width, height=height, encoding=encoding)


def decode_frame(frame: media_pb2.Frame) -> np.ndarray:
    """Decodes a ``Frame`` into an RGB image; raises :class:`FrameFormatError` when invalid."""
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
    buffer = np.frombuffer(frame.data, dtype=np.uint8)
    image = cv2.imdecode(buffer, cv2.IMREAD_COLOR) if buffer.size else None
    if image is None:
        raise FrameFormatError(f"frame {frame.index}: data is not a valid JPEG image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def pcm_to_samples(pcm: bytes) -> np.ndarray:
    """Interprets s16le mono PCM bytes as int16 samples; an odd byte count is an error."""
    if len(pcm) % 2:
        raise FrameFormatError(f"PCM chunk has an odd number of bytes ({len(pcm)})")
    return np.frombuffer(pcm, dtype="<i2").astype(np.int16, copy=False)


def samples_to_pcm(samples: np.ndarray) -> bytes:
    """Encodes int16 samples as s16le bytes."""
    return np.asarray(samples, dtype="<i2").tobytes()
