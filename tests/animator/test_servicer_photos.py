"""Every kind of photo a user may send, through a real animator server.

Each bad photo must get INVALID_ARGUMENT with a message that says what is wrong,
through PrepareAvatar and through an Animate stream that carries the image, and
the server must keep serving afterwards. Unusual but usable photos (several faces,
grayscale, transparency) must work, saying so where the user should know.
"""

from __future__ import annotations

import asyncio
import io
import struct
import zlib

import cv2
import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from PIL import Image

from avatar.animator.v1 import animator_pb2, animator_pb2_grpc
from avatar_core.images import decode_image, decode_jpeg, encode_jpeg
from tests.support.network import metric_value, scrape
from tests.support.races import CLIENT_WRITE_RACE
from tests.support.services import in_process_server

SAMPLE_RATE = 16000


@pytest.fixture(scope="module")
def sample_rgb(sample_photo) -> np.ndarray:
    return decode_image(sample_photo)


@pytest.fixture
async def server():
    async with in_process_server("animator", {"AVATAR_ANIMATOR_WORKERS": "2"}) as running:
        yield running


@pytest.fixture
async def stub(server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield animator_pb2_grpc.AnimatorServiceStub(channel)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _header_bomb() -> bytes:
    """A valid 100-byte PNG whose header claims 20000 x 20000 RGB pixels (1.2 GB)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def _no_face() -> bytes:
    ys, xs = np.mgrid[0:300, 0:400]
    landscape = np.stack([xs % 256, ys % 256, (xs + ys) % 256], axis=2).astype(np.uint8)
    return encode_jpeg(landscape)


def _tiny_face(sample_rgb: np.ndarray) -> bytes:
    canvas = np.full((400, 400, 3), 200, dtype=np.uint8)
    canvas[:140, :140] = cv2.resize(sample_rgb, (140, 140), interpolation=cv2.INTER_AREA)
    return encode_jpeg(canvas)


def _two_faces(sample_rgb: np.ndarray) -> bytes:
    canvas = np.full((600, 900, 3), 230, dtype=np.uint8)
    canvas[44:556, 380:892] = sample_rgb
    canvas[150:450, 20:320] = cv2.resize(sample_rgb, (300, 300), interpolation=cv2.INTER_AREA)
    return encode_jpeg(canvas, 95)


def _grayscale(sample_rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(sample_rgb).convert("L").save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def _transparent_border(sample_rgb: np.ndarray) -> bytes:
    """The sample as RGBA PNG: opaque face, fully transparent 40 px border."""
    alpha = np.zeros(sample_rgb.shape[:2], dtype=np.uint8)
    alpha[40:-40, 40:-40] = 255
    return _png(Image.fromarray(np.dstack([sample_rgb, alpha]), mode="RGBA"))


async def _prepare_error(stub, image: bytes) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.PrepareAvatar(animator_pb2.PrepareAvatarRequest(image=image))
    return error.value


async def _animate(stub, image: bytes) -> list[animator_pb2.AnimateResponse]:
    silence = bytes(2 * round(0.4 * SAMPLE_RATE))  # 0.4 s: 10 frames
    requests = [
        animator_pb2.AnimateRequest(
            config=animator_pb2.AnimateConfig(image=image, sample_rate=SAMPLE_RATE)
        ),
        animator_pb2.AnimateRequest(audio={"pcm": silence, "sample_rate": SAMPLE_RATE}),
        animator_pb2.AnimateRequest(end=animator_pb2.AnimateInputEnd()),
    ]
    return [response async for response in stub.Animate(iter(requests))]


BAD_PHOTOS = {
    "no face": (lambda rgb: _no_face(), "no face found in the photo"),
    "face under 64 px": (_tiny_face, "at least 64 px is needed"),
    "20000 x 20000 header bomb": (lambda rgb: _header_bomb(), "the limit is 40.0 megapixels"),
    "not an image": (lambda rgb: b"%PDF-1.7 not a photo", "not an image"),
}


@pytest.mark.parametrize("kind", list(BAD_PHOTOS))
async def test_bad_photos_are_refused_with_a_reason_and_the_server_carries_on(
    server, stub, sample_rgb, sample_photo, kind
):
    make, message = BAD_PHOTOS[kind]
    image = make(sample_rgb)
    error = await _prepare_error(stub, image)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in error.details()
    for _ in range(5):
        with pytest.raises(grpc.aio.AioRpcError) as streamed:
            await _animate(stub, image)
        if (streamed.value.code(), streamed.value.details()) != CLIENT_WRITE_RACE:
            break
    assert streamed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in streamed.value.details()
    # The server still serves: health says so and a good photo still animates.
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    responses = await _animate(stub, sample_photo)
    assert responses[-1].end.frames == 10


async def test_a_header_bomb_is_refused_without_decoding_its_pixels(server, stub):
    # Decoding 20000 x 20000 RGB would take 1.2 GB and seconds; the refusal takes neither.
    started = asyncio.get_running_loop().time()
    error = await _prepare_error(stub, _header_bomb())
    assert "megapixels" in error.details()
    assert asyncio.get_running_loop().time() - started < 2.0
    assert (
        metric_value(
            await asyncio.to_thread(scrape, server.metrics_port), "avatar_animator_cached_faces"
        )
        == 0
    )


async def test_of_several_faces_the_largest_is_used_and_the_response_says_so(stub, sample_rgb):
    image = _two_faces(sample_rgb)
    prepared = await stub.PrepareAvatar(animator_pb2.PrepareAvatarRequest(image=image))
    assert prepared.faces_found == 2
    assert list(prepared.warnings) == ["2 faces found; the largest is used"]
    xs = [point.x for point in prepared.landmarks]
    # The large face fills about a third of the frame; the small one would be cropped wider.
    assert 120 < max(xs) - min(xs) < 220
    responses = await _animate(stub, image)
    assert list(responses[0].started.warnings) == ["2 faces found; the largest is used"]
    assert responses[0].started.cache_hit


async def test_a_grayscale_photo_animates_in_gray(stub, sample_rgb):
    prepared = await stub.PrepareAvatar(
        animator_pb2.PrepareAvatarRequest(image=_grayscale(sample_rgb))
    )
    assert prepared.faces_found == 1 and list(prepared.warnings) == []
    still = decode_jpeg(prepared.still_jpeg).astype(int)
    assert still.shape == (512, 512, 3)
    assert np.abs(still[..., 0] - still[..., 1]).mean() < 2.0  # no colour appears
    frames = [
        frame for r in await _animate(stub, _grayscale(sample_rgb)) for frame in r.frames.frames
    ]
    assert len(frames) == 10 and decode_jpeg(frames[0].data).shape == (512, 512, 3)


async def test_a_png_with_transparency_is_composited_on_white(stub, sample_rgb):
    image = _transparent_border(sample_rgb)
    prepared = await stub.PrepareAvatar(animator_pb2.PrepareAvatarRequest(image=image))
    assert prepared.faces_found == 1
    still = decode_jpeg(prepared.still_jpeg).astype(int)
    assert still[:20, :20].min() > 240  # the transparent corner is white, not black
    assert np.abs(still[256, 256] - sample_rgb[256, 256]).max() < 30  # the face is untouched
    responses = await _animate(stub, image)
    assert responses[-1].end.frames == 10
