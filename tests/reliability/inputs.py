"""Bad inputs shared by the reliability tests: broken images, bombs, faceless photos."""

from __future__ import annotations

import functools
import io
import struct
import zlib

import numpy as np
from PIL import Image

from tests.reliability.harness import PHOTO

# A short sentence, so speech starts at once, then a long one (cut at 300 characters) whose
# synthesis takes a while, then fifty more: about two minutes of speech, 3000 frames.
LONG_TEXT = (
    "Hi. "
    + (
        "This opening sentence rambles on and on about the weather, the hills, the river and "
        "the long road home, so that it takes a good while to say out loud, well beyond the "
        "few seconds of speech that the pipeline keeps queued between its stages at any time, "
        "and it only ends here. "
    )
    + " ".join(f"Then sentence number {n} follows." for n in range(50))
)

NOT_AN_IMAGE = b"This is a plain text file, not a photo.\n" * 20
TRUNCATED_JPEG = PHOTO[: len(PHOTO) // 2]


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@functools.cache
def png_bomb(side: int = 20000) -> bytes:
    """A complete, valid black 1-bit PNG of ``side`` x ``side`` pixels, a few tens of kB.

    Decoding it would take ``side**2`` bytes in Pillow (400 MB at 20000) and three
    times that as RGB, so only a check of the header before decoding keeps memory flat.
    """
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    pixels = b"".join(compressor.compress(row * 1000) for _ in range(side // 1000))
    pixels += compressor.compress(row * (side % 1000)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", pixels)
        + _png_chunk(b"IEND", b"")
    )


@functools.cache
def faceless_photo() -> bytes:
    """A 320 x 240 JPEG of a smooth gradient: a valid photo with no face in it."""
    ys, xs = np.mgrid[0:240, 0:320]
    rgb = np.stack([xs * 255 // 319, ys * 255 // 239, np.full_like(xs, 90)], axis=2)
    buffer = io.BytesIO()
    Image.fromarray(rgb.astype(np.uint8)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def padded_jpeg(size: int) -> bytes:
    """The sample photo followed by filler up to ``size`` bytes (decoders stop at EOI)."""
    if size < len(PHOTO):
        raise ValueError(f"size must be at least {len(PHOTO)}")
    return PHOTO + b"\x00" * (size - len(PHOTO))


def peak_rss_bytes() -> int:
    """This process's peak resident memory since the last :func:`reset_peak_rss`."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("VmHWM missing from /proc/self/status")


def reset_peak_rss() -> None:
    """Resets the kernel's peak-RSS mark of this process to its current RSS."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def jpeg_claiming(width: int, height: int) -> bytes:
    """The sample photo with its frame header patched to claim ``width`` x ``height``.

    A decoder would allocate ``width * height * 3`` bytes for it before finding out that
    the data is too short.
    """
    data = bytearray(PHOTO)
    offset = 2
    while data[offset + 1] not in (0xC0, 0xC1, 0xC2):
        offset += 2 + int.from_bytes(data[offset + 2 : offset + 4], "big")
    data[offset + 5 : offset + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)
