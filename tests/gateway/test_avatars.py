"""CreateAvatar's work, with a fake animator: photo checked, face prepared, idle media stored."""

from __future__ import annotations

import io
import math

import av
import grpc
import numpy as np
import pytest
from PIL import Image, ImageSequence

from avatar.animator.v1 import animator_pb2
from avatar.common.v1 import media_pb2
from avatar_core.frames import encode_frame
from avatar_core.images import InvalidImageError
from avatar_gateway.avatars import IDLE_SAMPLE_RATE, AvatarFactory
from avatar_gateway.clients import StageError
from avatar_gateway.store import AvatarStore

FPS = 25.0
IDLE_SECONDS = 1.0


def _photo(size: int = 96) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (200, 150, 120)).save(buffer, format="PNG")
    return buffer.getvalue()


class _FakeAnimator:
    """Prepares any photo; animates silence as frames that brighten one step per frame."""

    def __init__(self, *, refuse: bool = False) -> None:
        self.refuse = refuse
        self.prepared: list[bytes] = []
        self.requests: list[animator_pb2.AnimateRequest] = []
        self.timeouts: list[float | None] = []

    async def prepare(self, image: bytes, timeout: float | None):
        self.prepared.append(image)
        self.timeouts.append(timeout)
        if self.refuse:
            raise StageError("animator", grpc.StatusCode.INVALID_ARGUMENT, "no face found")
        return animator_pb2.PrepareAvatarResponse(
            content_hash="c0ffee", frame_width=64, frame_height=48, warnings=["2 faces found"]
        )

    async def animate(self, requests, timeout: float | None):
        self.timeouts.append(timeout)
        async for request in requests:
            self.requests.append(request)
        config = self.requests[0].config
        batch = media_pb2.FrameBatch()
        for index in range(config.loop_frames):
            image = np.full((48, 64, 3), 4 * index, np.uint8)
            batch.frames.append(encode_frame(image, index))
        yield animator_pb2.AnimateResponse(started=animator_pb2.AnimateStarted())
        yield animator_pb2.AnimateResponse(frames=batch)
        yield animator_pb2.AnimateResponse(end=animator_pb2.AnimateEnd())


def _factory(tmp_path, animator: _FakeAnimator) -> tuple[AvatarFactory, AvatarStore]:
    store = AvatarStore(tmp_path / "avatars")
    factory = AvatarFactory(
        animator, store, max_image_bytes=100_000, fps=FPS, idle_clip_seconds=IDLE_SECONDS
    )
    return factory, store


async def test_an_avatar_is_prepared_rendered_and_stored(tmp_path):
    animator = _FakeAnimator()
    factory, store = _factory(tmp_path, animator)
    photo = _photo()
    record, media = await factory.create(photo, "astronaut", 20.0)

    assert (record.content_hash, record.frame_width, record.frame_height) == ("c0ffee", 64, 48)
    assert record.display_name == "astronaut" and record.warnings == ["2 faces found"]
    assert store.get(record.avatar_id) == record
    assert store.photo(record.avatar_id) == photo
    assert store.media(record.avatar_id) == media
    assert animator.prepared == [photo]
    assert animator.timeouts == [20.0, 20.0]


async def test_the_idle_clip_is_silence_animated_as_one_loop(tmp_path):
    animator = _FakeAnimator()
    factory, _ = _factory(tmp_path, animator)
    _, media = await factory.create(_photo(), "", None)

    config, audio, end = (request.WhichOneof("message") for request in animator.requests)
    assert (config, audio, end) == ("config", "audio", "end")
    sent = animator.requests[0].config
    loop_frames = math.ceil(IDLE_SECONDS * FPS)
    assert (sent.content_hash, sent.fps, sent.loop_frames) == ("c0ffee", FPS, loop_frames)
    assert sent.sample_rate == IDLE_SAMPLE_RATE
    silence = animator.requests[1].audio
    assert silence.pcm == bytes(2 * round(IDLE_SECONDS * IDLE_SAMPLE_RATE))

    with av.open(io.BytesIO(media.idle_clip_mp4)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
        assert len(container.streams.audio) == 1
    assert len(frames) == loop_frames
    assert frames[0].mean() < frames[-1].mean()  # the frames in the order animated


async def test_the_poster_is_a_looping_gif_as_long_as_the_idle_clip(tmp_path):
    factory, _ = _factory(tmp_path, _FakeAnimator())
    _, media = await factory.create(_photo(), "", None)
    with Image.open(io.BytesIO(media.poster_gif)) as gif:
        assert gif.format == "GIF"
        assert gif.info.get("loop") == 0
        # Every second frame at 12.5 fps (80 ms each); GIF merges frames that look alike.
        milliseconds = sum(frame.info["duration"] for frame in ImageSequence.Iterator(gif))
    assert milliseconds == 80 * math.ceil(IDLE_SECONDS * FPS / 2)


@pytest.mark.parametrize(
    "photo", [b"not an image at all", _photo(size=400) + bytes(100_000)], ids=["garbage", "large"]
)
async def test_a_bad_photo_is_refused_before_the_animator_sees_it(tmp_path, photo):
    animator = _FakeAnimator()
    factory, store = _factory(tmp_path, animator)
    with pytest.raises(InvalidImageError):
        await factory.create(photo, "", None)
    assert animator.prepared == []
    assert store.list() == []


async def test_a_photo_the_animator_refuses_stores_nothing(tmp_path):
    factory, store = _factory(tmp_path, _FakeAnimator(refuse=True))
    with pytest.raises(StageError) as caught:
        await factory.create(_photo(), "", None)
    assert (caught.value.stage, caught.value.details) == ("animator", "no face found")
    assert store.list() == []
