"""The animator servicer against a real in-process gRPC server."""

from __future__ import annotations

import asyncio
import hashlib
import math
import struct
import urllib.request
import zlib

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from avatar.animator.v1 import animator_pb2, animator_pb2_grpc
from avatar.common.v1 import media_pb2
from avatar_core.images import decode_jpeg, encode_jpeg
from tests.animator.observer import FaceObserver, blinks
from tests.support.races import CLIENT_WRITE_RACE, paced
from tests.support.services import in_process_server

SAMPLE_RATE = 16000


@pytest.fixture
async def server():
    async with in_process_server("animator", {"AVATAR_ANIMATOR_WORKERS": "2"}) as running:
        yield running


@pytest.fixture
async def stub(server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield animator_pb2_grpc.AnimatorServiceStub(channel)


def _audio(seconds: float, offset: int = 0) -> media_pb2.AudioChunk:
    times = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    samples = (np.sin(2 * np.pi * 200 * times) * 9000).astype("<i2")
    return media_pb2.AudioChunk(
        pcm=samples.tobytes(), sample_rate=SAMPLE_RATE, sample_offset=offset
    )


def _config(**fields) -> animator_pb2.AnimateRequest:
    return animator_pb2.AnimateRequest(config=animator_pb2.AnimateConfig(**fields))


def _audio_request(seconds: float, offset: int = 0) -> animator_pb2.AnimateRequest:
    return animator_pb2.AnimateRequest(audio=_audio(seconds, offset))


END = animator_pb2.AnimateRequest(end=animator_pb2.AnimateInputEnd())


async def _collect(stub, requests) -> list[animator_pb2.AnimateResponse]:
    return [response async for response in stub.Animate(iter(requests))]


async def _refused(stub, requests, attempts: int = 5) -> grpc.aio.AioRpcError:
    """The error an Animate stream ends with (repeated when the client lost it to the race)."""
    for _ in range(attempts):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            async for _ in stub.Animate(paced(requests)):
                pass
        if (error.value.code(), error.value.details()) != CLIENT_WRITE_RACE:
            break
    return error.value


def _frames(responses) -> list[media_pb2.Frame]:
    return [frame for response in responses for frame in response.frames.frames]


async def test_health_is_serving_after_warm_up(server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        response = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="avatar.animator.v1.AnimatorService")
        )
    assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_prepare_avatar_returns_the_face(stub, sample_photo):
    response = await stub.PrepareAvatar(animator_pb2.PrepareAvatarRequest(image=sample_photo))
    assert response.content_hash == hashlib.sha256(sample_photo).hexdigest()
    assert len(response.landmarks) == 68 and response.faces_found == 1
    assert (response.frame_width, response.frame_height) == (512, 512)
    assert decode_jpeg(response.still_jpeg).shape == (512, 512, 3)
    assert list(response.warnings) == []
    chin, nose = response.landmarks[8], response.landmarks[30]
    assert chin.y > nose.y


def _bomb() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (b"", "image is empty"),
        (b"plain text, not a photo", "not an image"),
        (_bomb(), "megapixels"),
        (encode_jpeg(np.full((200, 300, 3), 120, dtype=np.uint8)), "no face found"),
    ],
)
async def test_bad_photos_are_invalid_arguments(stub, image, message):
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.PrepareAvatar(animator_pb2.PrepareAvatarRequest(image=image))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in error.value.details()


async def test_animate_streams_every_frame_in_batches(stub, sample_photo):
    prepared = await stub.PrepareAvatar(animator_pb2.PrepareAvatarRequest(image=sample_photo))
    timings = media_pb2.TimingTrack(
        phonemes=[
            media_pb2.Phoneme(symbol="m", start_seconds=0.0, end_seconds=0.1),
            media_pb2.Phoneme(symbol="ˈa", start_seconds=0.1, end_seconds=0.9, stressed=True),
        ]
    )
    responses = await _collect(
        stub,
        [
            _config(content_hash=prepared.content_hash, sample_rate=SAMPLE_RATE, batch_size=4),
            animator_pb2.AnimateRequest(timings=timings),
            _audio_request(0.5),
            _audio_request(0.53, offset=8000),
            END,
        ],
    )
    assert [r.sequence for r in responses] == list(range(len(responses)))
    assert responses[0].WhichOneof("event") == "started"
    started = responses[0].started
    assert started.cache_hit and (started.frame_width, started.frame_height, started.fps) == (
        512,
        512,
        25,
    )
    frames = _frames(responses)
    expected = math.ceil(1.03 * 25)
    assert [frame.index for frame in frames] == list(range(expected))
    # The first frame leaves alone, at once; then whole batches, the rest at the end.
    assert len(responses[1].frames.frames) == 1
    assert all(len(r.frames.frames) == 4 for r in responses[2:-2])
    assert responses[-1].end.frames == expected and responses[-1].end.used_timings
    assert all(frame.encoding == media_pb2.FRAME_ENCODING_JPEG for frame in frames)
    assert decode_jpeg(frames[10].data).shape == (512, 512, 3)


async def test_frames_arrive_before_the_input_ends(stub, sample_photo):
    call = stub.Animate()
    await call.write(_config(image=sample_photo, sample_rate=SAMPLE_RATE, batch_size=2))
    assert (await call.read()).WhichOneof("event") == "started"
    await call.write(_audio_request(1.0))
    response = await asyncio.wait_for(call.read(), timeout=10)
    assert response.WhichOneof("event") == "frames"
    assert [frame.index for frame in response.frames.frames] == [0]  # the first frame, alone
    response = await asyncio.wait_for(call.read(), timeout=10)
    assert [frame.index for frame in response.frames.frames] == [1, 2]
    await call.write(END)
    await call.done_writing()
    rest = []
    while (response := await call.read()) != grpc.aio.EOF:
        rest.append(response)
    assert rest[-1].end.frames == 25 and not rest[-1].end.used_timings


async def test_unknown_hash_without_image_asks_for_the_image(stub, sample_photo):
    unknown = hashlib.sha256(b"a photo this server never saw").hexdigest()
    error = await _refused(stub, [_config(content_hash=unknown, sample_rate=SAMPLE_RATE), END])
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "send the image" in error.details()


async def test_image_in_the_config_prepares_then_caches(stub, sample_photo):
    content_hash = hashlib.sha256(sample_photo).hexdigest()
    requests = [
        _config(content_hash=content_hash, image=sample_photo, sample_rate=SAMPLE_RATE),
        _audio_request(0.2),
        END,
    ]
    first = await _collect(stub, requests)
    second = await _collect(stub, requests)
    assert not first[0].started.cache_hit and second[0].started.cache_hit
    assert first[-1].end.frames == second[-1].end.frames == 5


async def test_raw_frames_come_one_per_batch(stub, sample_photo):
    responses = await _collect(
        stub,
        [
            _config(
                image=sample_photo, sample_rate=SAMPLE_RATE, encoding=media_pb2.FRAME_ENCODING_RGB24
            ),
            _audio_request(0.12),
            END,
        ],
    )
    batches = [r.frames for r in responses if r.WhichOneof("event") == "frames"]
    assert len(batches) == 3 and all(len(batch.frames) == 1 for batch in batches)
    frame = batches[0].frames[0]
    assert frame.encoding == media_pb2.FRAME_ENCODING_RGB24 and len(frame.data) == 512 * 512 * 3


async def test_same_seed_gives_the_same_frames(stub, sample_photo):
    def requests(seed: int):
        motion = media_pb2.MotionSettings(seed=seed, blinks_per_minute=60)
        config = _config(
            image=sample_photo,
            sample_rate=SAMPLE_RATE,
            start_frame=1000,
            motion=motion,
            encoding=media_pb2.FRAME_ENCODING_RGB24,
        )
        return [config, _audio_request(1.0), END]

    first, again, other = [_frames(await _collect(stub, requests(seed))) for seed in (1, 1, 2)]
    assert [f.data for f in first] == [f.data for f in again]
    assert [f.data for f in first] != [f.data for f in other]


@pytest.mark.parametrize(
    ("requests", "message"),
    [
        ([_audio_request(0.1)], "first message must be config"),
        ([_config(sample_rate=SAMPLE_RATE), END], "content_hash or an image"),
        ([_config(image=b"x" * 10, content_hash="00" * 32), END], "not the SHA-256"),
        ([_config(image=b"not an image"), END], "not an image"),
        ([_config(content_hash="ab", image=b"", jpeg_quality=101), END], "jpeg_quality"),
    ],
)
async def test_bad_streams_are_invalid_arguments(stub, requests, message):
    error = await _refused(stub, requests)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in error.details()


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([_audio_request(0.2), _audio_request(0.2, offset=100), END], "overlaps earlier audio"),
        ([_config(sample_rate=SAMPLE_RATE), END], "config sent twice"),
        ([_audio_request(0.2)], "without end"),
        ([animator_pb2.AnimateRequest(audio=media_pb2.AudioChunk(pcm=b"abc")), END], "odd number"),
        (
            [
                animator_pb2.AnimateRequest(
                    audio=media_pb2.AudioChunk(pcm=b"ab", sample_rate=8000)
                ),
                END,
            ],
            "8000 Hz",
        ),
    ],
)
async def test_bad_payloads_are_invalid_arguments(stub, sample_photo, payload, message):
    requests = [_config(image=sample_photo, sample_rate=SAMPLE_RATE), *payload]
    error = await _refused(stub, requests)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in error.details()


async def test_metrics_count_frames_and_cache_use(server, stub, sample_photo):
    requests = [_config(image=sample_photo, sample_rate=SAMPLE_RATE), _audio_request(0.4), END]
    await _collect(stub, requests)
    await _collect(stub, requests)
    url = f"http://127.0.0.1:{server.metrics_port}/metrics"
    text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
    assert 'avatar_animator_frames_total{driver="audio"} 20.0' in text
    assert 'avatar_animator_prepared_faces_total{cache="miss"} 1.0' in text
    assert 'avatar_animator_prepared_faces_total{cache="hit"} 1.0' in text
    assert 'avatar_animator_frame_seconds_count{step="render"}' in text
    assert "avatar_animator_cached_faces 1.0" in text


def _rgb_frames(responses) -> list[np.ndarray]:
    return [
        np.frombuffer(frame.data, dtype=np.uint8).reshape(frame.height, frame.width, 3)
        for frame in _frames(responses)
    ]


async def test_an_idle_loop_ends_where_it_starts(stub, sample_photo):
    loop_frames = 50  # 2 s at 25 fps
    motion = media_pb2.MotionSettings(seed=4, blinks_per_minute=30)
    responses = await _collect(
        stub,
        [
            _config(
                image=sample_photo,
                sample_rate=SAMPLE_RATE,
                encoding=media_pb2.FRAME_ENCODING_RGB24,
                motion=motion,
                loop_frames=loop_frames,
            ),
            _silence_request(2.04),  # one frame past the loop: frame 50 is frame 0 again
            END,
        ],
    )
    frames = _rgb_frames(responses)
    assert len(frames) == loop_frames + 1
    assert np.array_equal(frames[loop_frames], frames[0])
    steps = [
        np.abs(a.astype(int) - b.astype(int)).mean()
        for a, b in zip(frames[:-1], frames[1:], strict=True)
    ]
    # From the last frame back to the first is one ordinary step, no jump...
    assert steps[-1] <= max(steps[:-1])
    assert max(steps) > 0.05  # ...and the loop is not a still picture.


async def test_a_loop_longer_than_allowed_is_refused(stub, sample_photo):
    error = await _refused(
        stub, [_config(image=sample_photo, sample_rate=SAMPLE_RATE, loop_frames=10**6), END]
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "loop_frames" in error.details()


def _silence_request(seconds: float) -> animator_pb2.AnimateRequest:
    samples = round(seconds * SAMPLE_RATE)
    return animator_pb2.AnimateRequest(
        audio=media_pb2.AudioChunk(pcm=bytes(2 * samples), sample_rate=SAMPLE_RATE)
    )


async def test_blinks_can_be_turned_off_and_brows_raised(stub, sample_photo):
    observer = FaceObserver()
    timings = media_pb2.TimingTrack(
        phonemes=[
            media_pb2.Phoneme(symbol="h", start_seconds=0.0, end_seconds=0.1),
            media_pb2.Phoneme(symbol="ˈɛ", start_seconds=0.1, end_seconds=0.5, stressed=True),
            media_pb2.Phoneme(symbol="_", start_seconds=0.5, end_seconds=2.0),
        ]
    )

    async def render(**motion) -> list[np.ndarray]:
        config = _config(
            image=sample_photo,
            sample_rate=SAMPLE_RATE,
            encoding=media_pb2.FRAME_ENCODING_RGB24,
            motion=media_pb2.MotionSettings(seed=2, blinks_per_minute=60, **motion),
        )
        request = animator_pb2.AnimateRequest(timings=timings)
        return _rgb_frames(await _collect(stub, [config, request, _audio_request(2.0), END]))

    blinking, still_eyes = await render(), await render(no_blinks=True, brow_raise=2.0)
    ratios = [
        np.array([observer.observe(f).eye_aspect_ratio for f in clip])
        for clip in (blinking, still_eyes)
    ]
    assert len(blinks(ratios[0])) >= 1 and blinks(ratios[1]) == []

    def brow_height(frame: np.ndarray) -> float:
        points = observer.observe(frame).points
        return float(points[36:48, 1].mean() - points[17:27, 1].mean())

    peak = round((0.1 + 0.2) * 25)  # the stressed vowel's onset plus half a brow raise
    assert brow_height(still_eyes[peak]) > brow_height(blinking[peak]) + 3.0
    assert abs(brow_height(still_eyes[-1]) - brow_height(blinking[-1])) < 1.5  # back down
