"""The onnx backend through the enhancer's gRPC server, configured by environment alone."""

from __future__ import annotations

import cv2
import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from avatar.common.v1 import media_pb2
from avatar.enhancer.v1 import enhancer_pb2, enhancer_pb2_grpc
from avatar_core.config import ConfigError
from avatar_core.frames import decode_frame, encode_frame
from avatar_devtools.samples import sample_face
from avatar_enhancer.config import EnhancerConfig
from avatar_enhancer.faces import FaceLocator
from tests.enhancer.restoration_models import codeformer_layout, gfpgan_layout
from tests.enhancer.test_restorer import face_region
from tests.support.races import refused
from tests.support.services import in_process_server

RGB24 = media_pb2.FRAME_ENCODING_RGB24
SERVICE = "avatar.enhancer.v1.EnhancerService"


def _portrait() -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(sample_face(), np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _moving_frames(count: int) -> list[np.ndarray]:
    """The portrait shifted a pixel per frame, as a head that moves a little."""
    portrait = _portrait()
    return [np.roll(portrait, shift=(i, i), axis=(0, 1)) for i in range(count)]


def _requests(config, batches, faces=None):
    yield enhancer_pb2.EnhanceRequest(config=config)
    for position, batch in enumerate(batches):
        yield enhancer_pb2.EnhanceRequest(frames=batch, faces=(faces or {}).get(position, []))
    yield enhancer_pb2.EnhanceRequest(end=enhancer_pb2.EnhanceInputEnd())


def _batches(frames, first_index=40, per_batch=2):
    batches = []
    for start in range(0, len(frames), per_batch):
        encoded = [
            encode_frame(frame, first_index + start + i, RGB24)
            for i, frame in enumerate(frames[start : start + per_batch])
        ]
        batches.append(media_pb2.FrameBatch(frames=encoded, fps=25.0))
    return batches


async def _enhance(port, config, batches, faces=None):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = enhancer_pb2_grpc.EnhancerServiceStub(channel)
        return [r async for r in stub.Enhance(_requests(config, batches, faces), timeout=60)]


async def _health(port, name=""):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return (await stub.Check(health_pb2.HealthCheckRequest(service=name))).status


def _frames(responses):
    return [f for r in responses if r.WhichOneof("event") == "frames" for f in r.frames.frames]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return gfpgan_layout(tmp_path_factory.mktemp("models") / "tiny_gfpgan.onnx", size=128)


@pytest.fixture
async def server(model):
    environment = {"AVATAR_ENHANCER_MODEL": str(model), "AVATAR_ENHANCER_BACKEND": "onnx"}
    async with in_process_server("enhancer", environment) as running:
        yield running


async def test_frames_come_back_with_the_face_restored_and_nothing_else_changed(server):
    frames = _moving_frames(5)
    config = enhancer_pb2.EnhanceConfig(encoding=RGB24)
    responses = await _enhance(server.port, config, _batches(frames))
    assert responses[0].started.backend == "onnx"
    assert responses[0].started.model == "tiny_gfpgan.onnx"
    assert [r.WhichOneof("event") for r in responses] == ["started"] + ["frames"] * 3 + ["end"]
    assert responses[-1].end.frames == 5
    assert [f.index for f in _frames(responses)] == [40, 41, 42, 43, 44]
    assert all(r.frames.fps == 25.0 for r in responses[1:-1])
    locator = FaceLocator()
    for frame, sent in zip(_frames(responses), frames, strict=True):
        enhanced = decode_frame(frame)
        assert enhanced.shape == sent.shape
        inside = face_region(locator.locate(sent), 128, sent.shape)
        # The stream's landmarks are steadied, so allow the region a margin.
        margin = cv2.dilate(inside.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
        difference = np.abs(enhanced.astype(int) - sent).mean(axis=2)
        assert difference[inside].mean() > 10
        assert difference[~margin].mean() < 3 and not difference[~margin].any()


async def test_the_same_stream_gives_the_same_frames(server):
    batches = _batches(_moving_frames(4))
    config = enhancer_pb2.EnhanceConfig(encoding=RGB24)
    first = await _enhance(server.port, config, batches)
    second = await _enhance(server.port, config, batches)
    assert [f.data for f in _frames(first)] == [f.data for f in _frames(second)]


async def test_a_stream_can_still_ask_for_opencv(server):
    config = enhancer_pb2.EnhanceConfig(backend="opencv", encoding=RGB24)
    responses = await _enhance(server.port, config, _batches(_moving_frames(1)))
    assert responses[0].started.backend == "opencv" and responses[0].started.model == ""
    # The filter touches the whole frame, the background included.
    changed = np.abs(decode_frame(_frames(responses)[0]).astype(int) - _portrait()) > 0
    assert changed[:60].mean() > 0.05


async def test_landmarks_sent_by_the_caller_choose_the_face(server):
    frame = _portrait()
    # A "face" in the top-left corner, where there is only background.
    points = [60.0, 80.0, 120.0, 80.0, 90.0, 115.0, 68.0, 140.0, 112.0, 140.0]
    faces = {0: [enhancer_pb2.FaceLandmarks(frame_index=40, points=points)]}
    config = enhancer_pb2.EnhanceConfig(encoding=RGB24)
    responses = await _enhance(server.port, config, _batches([frame]), faces)
    difference = np.abs(decode_frame(_frames(responses)[0]).astype(int) - frame).mean(axis=2)
    assert difference[40:170, 30:150].mean() > 5  # restored where the caller said
    assert not difference[150:350, 170:350].any()  # the real face is left alone


@pytest.mark.parametrize(
    ("face", "message"),
    [
        (enhancer_pb2.FaceLandmarks(frame_index=40, points=[1, 2, 3]), "got 3"),
        (enhancer_pb2.FaceLandmarks(frame_index=7, points=[0] * 10), "frame 7, which is not"),
    ],
)
async def test_bad_landmarks_are_invalid_argument(server, face, message):
    config = enhancer_pb2.EnhanceConfig(encoding=RGB24)
    error = await refused(
        lambda: _enhance(server.port, config, _batches(_moving_frames(1)), {0: [face]})
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in error.details()


async def test_every_backend_has_its_own_health_check(server):
    assert await _health(server.port) == health_pb2.HealthCheckResponse.SERVING
    for backend in ("opencv", "onnx"):
        status = await _health(server.port, f"{SERVICE}/{backend}")
        assert status == health_pb2.HealthCheckResponse.SERVING


async def test_fidelity_is_set_per_stream_for_codeformer_models(tmp_path):
    model = codeformer_layout(tmp_path / "codeformer.onnx", size=128)
    frames = _moving_frames(1)
    async with in_process_server("enhancer", {"AVATAR_ENHANCER_MODEL": str(model)}) as server:
        differences = []
        for fidelity in (1.0, 0.0):  # 0 means the default, 0.7
            config = enhancer_pb2.EnhanceConfig(backend="onnx", fidelity=fidelity, encoding=RGB24)
            enhanced = decode_frame(
                _frames(await _enhance(server.port, config, _batches(frames)))[0]
            )
            differences.append(np.abs(enhanced.astype(int) - frames[0]).mean())
        strong = enhancer_pb2.EnhanceConfig(backend="onnx", fidelity=0.05, encoding=RGB24)
        enhanced = decode_frame(_frames(await _enhance(server.port, strong, _batches(frames)))[0])
        differences.append(np.abs(enhanced.astype(int) - frames[0]).mean())
    assert differences[0] < differences[1] < differences[2]


def test_onnx_as_the_default_without_a_model_refuses_to_start():
    with pytest.raises(ConfigError, match="AVATAR_ENHANCER_BACKEND=onnx needs a face-restoration"):
        EnhancerConfig.from_env({"AVATAR_ENHANCER_BACKEND": "onnx"})


def test_the_model_settings_are_read_and_checked():
    config = EnhancerConfig.from_env(
        {
            "AVATAR_ENHANCER_MODEL": "/models/codeformer.onnx",
            "AVATAR_ENHANCER_FIDELITY": "0.5",
            "AVATAR_ENHANCER_THREADS": "4",
            "AVATAR_ENHANCER_DEVICE": "CPU",
        }
    )
    assert str(config.model) == "/models/codeformer.onnx" and config.default_backend == "opencv"
    assert (config.fidelity, config.threads, config.device) == (0.5, 4, "cpu")
    with pytest.raises(ConfigError, match="AVATAR_ENHANCER_DEVICE='tpu' is unknown"):
        EnhancerConfig.from_env({"AVATAR_ENHANCER_DEVICE": "tpu"})
    with pytest.raises(ConfigError, match="AVATAR_ENHANCER_FIDELITY=2.0 is above"):
        EnhancerConfig.from_env({"AVATAR_ENHANCER_FIDELITY": "2"})
