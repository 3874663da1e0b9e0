"""Frames drawn from an appearance still (the still enhanced once) instead of the photo's own."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from avatar.animator.v1 import animator_pb2, animator_pb2_grpc
from avatar.common.v1 import media_pb2
from avatar_core.images import decode_jpeg, encode_jpeg
from tests.support.races import CLIENT_WRITE_RACE
from tests.support.services import in_process_server

SAMPLE_RATE = 16000
SECONDS = 0.4


@pytest.fixture
async def stub():
    async with (
        in_process_server("animator", {"AVATAR_ANIMATOR_WORKERS": "1"}) as server,
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        yield animator_pb2_grpc.AnimatorServiceStub(channel)


def _requests(photo: bytes, appearance: bytes = b"") -> list[animator_pb2.AnimateRequest]:
    times = np.arange(round(SECONDS * SAMPLE_RATE)) / SAMPLE_RATE
    speech = (np.sin(2 * np.pi * 180 * times) * 9000).astype("<i2")
    config = animator_pb2.AnimateConfig(
        image=photo,
        sample_rate=SAMPLE_RATE,
        encoding=media_pb2.FRAME_ENCODING_RGB24,
        motion=media_pb2.MotionSettings(seed=3),
        appearance=appearance,
    )
    return [
        animator_pb2.AnimateRequest(config=config),
        animator_pb2.AnimateRequest(
            audio=media_pb2.AudioChunk(pcm=speech.tobytes(), sample_rate=SAMPLE_RATE)
        ),
        animator_pb2.AnimateRequest(end=animator_pb2.AnimateInputEnd()),
    ]


async def _frames(stub, requests) -> list[np.ndarray]:
    frames = []
    async for response in stub.Animate(iter(requests)):
        for frame in response.frames.frames:
            frames.append(np.frombuffer(frame.data, np.uint8).reshape(frame.height, frame.width, 3))
    return frames


async def _still(stub, photo: bytes) -> np.ndarray:
    prepared = await stub.PrepareAvatar(animator_pb2.PrepareAvatarRequest(image=photo))
    return decode_jpeg(prepared.still_jpeg)


async def test_frames_are_drawn_from_the_appearance_with_the_same_motion(stub, sample_photo):
    plain = await _frames(stub, _requests(sample_photo))
    still = await _still(stub, sample_photo)
    # A warmer, brighter still of the same framing: every frame must show it.
    warmer = np.clip(still.astype(np.int16) + np.array([30, 10, -10]), 0, 255).astype(np.uint8)
    drawn = await _frames(stub, _requests(sample_photo, encode_jpeg(warmer, quality=95)))
    assert len(drawn) == len(plain) > 5
    for a, b in zip(plain, drawn, strict=True):
        shift = b.astype(float).mean(axis=(0, 1)) - a.astype(float).mean(axis=(0, 1))
        assert shift[0] > 20 and shift[2] < -5
    # Same landmarks and motion: the frames move alike (frame-to-frame change agrees).
    assert np.corrcoef(_steps(plain), _steps(drawn))[0, 1] > 0.9


def _steps(frames: list[np.ndarray]) -> list[float]:
    return [np.abs(a.astype(int) - b).mean() for a, b in zip(frames[:-1], frames[1:], strict=True)]


async def test_the_own_still_as_appearance_changes_next_to_nothing(stub, sample_photo):
    plain = await _frames(stub, _requests(sample_photo))
    still = await _still(stub, sample_photo)
    drawn = await _frames(stub, _requests(sample_photo, encode_jpeg(still, quality=98)))
    differences = [np.abs(a.astype(int) - b).mean() for a, b in zip(plain, drawn, strict=True)]
    assert max(differences) < 2.0


@pytest.mark.parametrize(
    ("appearance", "message"),
    [
        (encode_jpeg(np.zeros((100, 80, 3), np.uint8), quality=90), "must be the prepared still's"),
        (b"not an image at all", "appearance"),
    ],
)
async def test_a_bad_appearance_is_an_invalid_argument(stub, sample_photo, appearance, message):
    for _ in range(5):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await _frames(stub, _requests(sample_photo, appearance))
        if (raised.value.code(), raised.value.details()) != CLIENT_WRITE_RACE:
            break
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in raised.value.details()
