"""Tests of untrusted image decoding and the frame JPEG helpers."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image

from avatar_core.images import InvalidImageError, decode_image, decode_jpeg, encode_jpeg


def _gradient(width: int = 64, height: int = 48) -> np.ndarray:
    """A smooth RGB test image whose channels differ, so a BGR mix-up shows."""
    ys, xs = np.mgrid[0:height, 0:width]
    red = (xs * 255 // max(width - 1, 1)).astype(np.uint8)
    green = (ys * 255 // max(height - 1, 1)).astype(np.uint8)
    blue = np.full_like(red, 40)
    return np.stack([red, green, blue], axis=2)


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height, with a token IDAT (a bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + chunk(b"IEND", b"")
    )


def test_png_round_trip_keeps_rgb_order() -> None:
    rgb = _gradient()
    decoded = decode_image(_encode(Image.fromarray(rgb), "PNG"))
    assert decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, rgb)


def test_jpeg_decodes_close_to_source() -> None:
    rgb = _gradient()
    decoded = decode_image(_encode(Image.fromarray(rgb), "JPEG"))
    assert decoded.shape == rgb.shape
    assert np.abs(decoded.astype(int) - rgb.astype(int)).mean() < 4


def test_grayscale_becomes_three_equal_channels() -> None:
    gray = _gradient()[:, :, 0]
    decoded = decode_image(_encode(Image.fromarray(gray, mode="L"), "PNG"))
    assert decoded.shape == (*gray.shape, 3)
    for channel in range(3):
        np.testing.assert_array_equal(decoded[:, :, channel], gray)


def test_transparent_pixels_composite_on_white() -> None:
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)
    rgba[:, :5] = (200, 10, 10, 255)  # opaque red on the left
    rgba[:, 5:] = (0, 0, 0, 0)  # fully transparent black on the right
    decoded = decode_image(_encode(Image.fromarray(rgba, mode="RGBA"), "PNG"))
    assert tuple(decoded[5, 2]) == (200, 10, 10)
    assert tuple(decoded[5, 8]) == (255, 255, 255)


@pytest.mark.parametrize("data", [b"", b"hello, this is text", b"\x00" * 100])
def test_non_images_are_rejected(data: bytes) -> None:
    with pytest.raises(InvalidImageError, match="empty|not an image"):
        decode_image(data)


def test_truncated_jpeg_is_rejected() -> None:
    data = _encode(Image.fromarray(_gradient(256, 256)), "JPEG")
    with pytest.raises(InvalidImageError, match="truncated or corrupt"):
        decode_image(data[: len(data) // 2])


def test_too_many_bytes_is_rejected_before_parsing() -> None:
    data = _encode(Image.fromarray(_gradient()), "PNG")
    with pytest.raises(InvalidImageError, match="limit is"):
        decode_image(data, max_bytes=len(data) - 1)


@pytest.mark.parametrize("side", [8000, 20000])
def test_pixel_bomb_is_rejected_without_allocating(side: int) -> None:
    bomb = _png_header_only(side, side)
    assert len(bomb) < 200
    tracemalloc.start()
    try:
        with pytest.raises(InvalidImageError, match=r"megapixels\)?; the limit is 40.0"):
            decode_image(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * 1024 * 1024  # the pixels alone would take 192 MB or more


def test_unsupported_format_is_named() -> None:
    data = _encode(Image.fromarray(_gradient()), "TIFF")
    with pytest.raises(InvalidImageError, match="unsupported image format TIFF"):
        decode_image(data)


def test_exif_orientation_is_applied() -> None:
    rgb = _gradient(40, 20)
    image = Image.fromarray(rgb)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes())
    decoded = decode_image(buffer.getvalue())
    assert decoded.shape == (40, 20, 3)


def test_encode_decode_jpeg_round_trip_keeps_channel_order() -> None:
    rgb = _gradient(80, 60)
    decoded = decode_jpeg(encode_jpeg(rgb, quality=95))
    assert decoded.shape == rgb.shape
    # Red grows left to right, green top to bottom: a swapped channel order fails here.
    assert decoded[30, 75, 0] > 200 and decoded[30, 2, 0] < 40
    assert decoded[55, 40, 1] > 200 and decoded[2, 40, 1] < 40


def test_jpeg_quality_changes_size() -> None:
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    assert len(encode_jpeg(noisy, quality=95)) > len(encode_jpeg(noisy, quality=20))


def test_encode_jpeg_rejects_bad_arrays() -> None:
    with pytest.raises(ValueError, match="RGB uint8"):
        encode_jpeg(np.zeros((4, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="quality"):
        encode_jpeg(np.zeros((4, 4, 3), dtype=np.uint8), quality=0)


def test_decode_jpeg_rejects_garbage() -> None:
    with pytest.raises(InvalidImageError):
        decode_jpeg(b"not a jpeg")
