"""The lip-sync backend through the animator's gRPC server, configured by environment alone."""

from __future__ import annotations

import logging

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from avatar.animator.v1 import animator_pb2, animator_pb2_grpc
from avatar.common.v1 import media_pb2
from avatar_core.frames import decode_frame
from tests.animator.lipsync_models import identity_of, wav2lip_layout
from tests.support.races import refused
from tests.support.services import in_process_server

RATE = 16000
SERVICE = "avatar.animator.v1.AnimatorService"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _speech(seconds: float) -> bytes:
    times = np.arange(round(seconds * RATE)) / RATE
    envelope = np.clip(np.sin(2 * np.pi * 4 * times), 0, None)
    return np.round(9000 * envelope * np.sin(2 * np.pi * 200 * times)).astype("<i2").tobytes()


def _requests(photo: bytes, lipsync: str, seconds: float = 1.0):
    config = animator_pb2.AnimateConfig(
        image=photo,
        sample_rate=RATE,
        encoding=media_pb2.FRAME_ENCODING_RGB24,
        lipsync=lipsync,
        motion=media_pb2.MotionSettings(seed=2),
    )
    yield animator_pb2.AnimateRequest(config=config)
    pcm = _speech(seconds)
    for start in range(0, len(pcm), 6400):
        chunk = media_pb2.AudioChunk(pcm=pcm[start : start + 6400], sample_offset=start // 2)
        yield animator_pb2.AnimateRequest(audio=chunk)
    yield animator_pb2.AnimateRequest(end=animator_pb2.AnimateInputEnd())


async def _animate(port: int, photo: bytes, lipsync: str = "", seconds: float = 1.0):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = animator_pb2_grpc.AnimatorServiceStub(channel)
        call = stub.Animate(_requests(photo, lipsync, seconds), timeout=120)
        return [response async for response in call]


async def _health(port: int, name: str = "") -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return (await stub.Check(health_pb2.HealthCheckRequest(service=name))).status


def _frames(responses) -> list:
    return [f for r in responses if r.WhichOneof("event") == "frames" for f in r.frames.frames]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return wav2lip_layout(tmp_path_factory.mktemp("models") / "wav2lip_gan_96.onnx")


@pytest.fixture
async def server(model):
    environment = {
        "AVATAR_ANIMATOR_LIPSYNC_MODEL": str(model),
        "AVATAR_ANIMATOR_LIPSYNC_THREADS": "1",
    }
    async with in_process_server("animator", environment) as running:
        yield running


async def test_streams_get_the_model_by_default_and_can_ask_for_the_default_renderer(
    server, sample_photo, sample_face
):
    synced = await _animate(server.port, sample_photo)
    plain = await _animate(server.port, sample_photo, lipsync="default")
    assert synced[0].started.lipsync == "onnx" and plain[0].started.lipsync == "default"
    assert synced[0].started.warnings == []
    assert synced[-1].end.frames == plain[-1].end.frames == 25
    assert (
        [f.index for f in _frames(synced)] == [f.index for f in _frames(plain)] == list(range(25))
    )
    assert [r.frames.fps for r in synced[1:-1]] == [25.0] * (len(synced) - 2)
    points = sample_face.landmarks
    lips = (
        slice(int(points[48:60, 1].min()), int(points[48:60, 1].max())),
        slice(int(points[48:60, 0].min()), int(points[48:60, 0].max())),
    )
    for a, b in zip(_frames(synced), _frames(plain), strict=True):
        difference = np.abs(decode_frame(a).astype(np.int16) - decode_frame(b)).mean(axis=2)
        assert difference[lips].mean() > 20
        assert not difference[:100].any()  # hair and background: the renderer's, bit for bit
    explicit = await _animate(server.port, sample_photo, lipsync="onnx")
    assert [f.data for f in _frames(explicit)] == [f.data for f in _frames(synced)]


async def test_every_lipsync_backend_has_its_own_health_check(server):
    assert await _health(server.port) == SERVING
    assert await _health(server.port, f"{SERVICE}/default") == SERVING
    assert await _health(server.port, f"{SERVICE}/onnx") == SERVING


async def test_an_unknown_backend_is_invalid_argument(server, sample_photo):
    error = await refused(lambda: _animate(server.port, sample_photo, "sadtalker", seconds=0))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unknown lipsync backend 'sadtalker'; use one of default, onnx" in error.details()


async def test_without_a_model_asking_for_onnx_is_failed_precondition(sample_photo):
    async with in_process_server("animator") as server:
        assert (await _animate(server.port, sample_photo, seconds=0.2))[0].started.lipsync == (
            "default"
        )
        error = await refused(lambda: _animate(server.port, sample_photo, "onnx", seconds=0))
        assert await _health(server.port, f"{SERVICE}/default") == SERVING
        with pytest.raises(grpc.aio.AioRpcError) as unknown:  # no model, no such check
            await _health(server.port, f"{SERVICE}/onnx")
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "has no model: set AVATAR_ANIMATOR_LIPSYNC_MODEL to an .onnx file" in error.details()


def _corrupt(path):
    path.write_bytes(b"\x00\x01 not onnx")
    return path


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda tmp: tmp / "missing.onnx", "cannot read the lip-sync model missing.onnx"),
        (lambda tmp: _corrupt(tmp / "corrupt.onnx"), "corrupt.onnx is not a model ONNX Runtime"),
        (
            lambda tmp: identity_of(tmp / "gfpgan.onnx", {"input": [1, 3, 512, 512]}, "input"),
            "gfpgan.onnx has inputs `input` [1,3,512,512] float; expected Wav2Lip",
        ),
    ],
)
async def test_a_bad_model_stops_only_the_lipsync_backend(
    tmp_path, sample_photo, caplog, make, reason
):
    path = make(tmp_path)
    caplog.set_level(logging.ERROR, logger="avatar_animator.lipsync_backends")
    async with in_process_server(
        "animator", {"AVATAR_ANIMATOR_LIPSYNC_MODEL": str(path)}
    ) as server:
        assert await _health(server.port) == SERVING
        assert await _health(server.port, f"{SERVICE}/default") == SERVING
        assert await _health(server.port, f"{SERVICE}/onnx") == NOT_SERVING
        error = await refused(lambda: _animate(server.port, sample_photo, "onnx", seconds=0))
        fallback = await _animate(server.port, sample_photo, seconds=0.4)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details().startswith("lipsync backend 'onnx' is not serving: ")
    assert reason in error.details() and str(tmp_path) not in error.details()
    # Streams that ask for nothing are drawn by the default renderer, and told so.
    assert fallback[0].started.lipsync == "default" and fallback[-1].end.frames == 10
    assert any("the default renderer drew the mouth" in w for w in fallback[0].started.warnings)
    logged = [r for r in caplog.records if "NOT_SERVING" in r.getMessage()]
    assert len(logged) == 1 and str(path) in logged[0].getMessage()
    assert f"{SERVICE}/onnx" in logged[0].getMessage()
