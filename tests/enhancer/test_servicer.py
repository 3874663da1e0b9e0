"""The enhancer servicer against a real in-process gRPC server."""

from __future__ import annotations

import asyncio
import urllib.request

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from avatar.common.v1 import media_pb2
from avatar.enhancer.v1 import enhancer_pb2, enhancer_pb2_grpc
from avatar_core.config import ServerConfig
from avatar_core.frames import decode_frame, encode_frame
from avatar_core.server import running_server
from avatar_enhancer.config import EnhancerConfig
from avatar_enhancer.servicer import create_service


def _noisy_face(seed: int = 0, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    base = ((np.sin(xx / 5.0) + np.cos(yy / 7.0)) * 60 + 120).astype(np.float32)
    image = np.stack([base, base * 0.8, base * 0.6], axis=-1) + rng.normal(0, 12, (size, size, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture
async def server():
    config = EnhancerConfig(
        server=ServerConfig(service="enhancer", host="127.0.0.1", port=0, metrics_port=0)
    )
    async with running_server(
        config.server, lambda registry: create_service(config, registry)
    ) as running:
        yield running


@pytest.fixture
async def stub(server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield enhancer_pb2_grpc.EnhancerServiceStub(channel)


def _requests(config, batches, end=True):
    yield enhancer_pb2.EnhanceRequest(config=config)
    for batch in batches:
        yield enhancer_pb2.EnhanceRequest(frames=batch)
    if end:
        yield enhancer_pb2.EnhanceRequest(end=enhancer_pb2.EnhanceInputEnd())


def _batch(start: int, count: int, encoding=media_pb2.FRAME_ENCODING_RGB24) -> media_pb2.FrameBatch:
    frames = [encode_frame(_noisy_face(i), start + i, encoding) for i in range(count)]
    return media_pb2.FrameBatch(frames=frames, fps=25.0)


async def _collect(stub, requests):
    return [response async for response in stub.Enhance(requests)]


async def test_health_is_serving_after_start(server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        response = await health.Check(
            health_pb2.HealthCheckRequest(service="avatar.enhancer.v1.EnhancerService")
        )
    assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_every_frame_comes_back_enhanced_in_order(stub):
    config = enhancer_pb2.EnhanceConfig(encoding=media_pb2.FRAME_ENCODING_RGB24)
    responses = await _collect(stub, _requests(config, [_batch(0, 3), _batch(3, 2)]))
    kinds = [r.WhichOneof("event") for r in responses]
    assert kinds == ["started", "frames", "frames", "end"]
    assert [r.sequence for r in responses] == [0, 1, 2, 3]
    assert responses[-1].end.frames == 5
    indices = [f.index for r in responses[1:3] for f in r.frames.frames]
    assert indices == [0, 1, 2, 3, 4]
    original = _noisy_face(0)
    enhanced = decode_frame(responses[1].frames.frames[0])
    assert enhanced.shape == original.shape
    assert np.abs(enhanced.astype(int) - original.astype(int)).mean() > 1.0


async def test_enhancement_is_deterministic_and_upscales(stub):
    config = enhancer_pb2.EnhanceConfig(upscale=2, encoding=media_pb2.FRAME_ENCODING_RGB24)
    first = await _collect(stub, _requests(config, [_batch(0, 2)]))
    second = await _collect(stub, _requests(config, [_batch(0, 2)]))
    frame = first[1].frames.frames[0]
    assert (frame.width, frame.height) == (128, 128)
    assert frame.data == second[1].frames.frames[0].data


async def test_jpeg_frames_round_trip(stub):
    config = enhancer_pb2.EnhanceConfig()
    responses = await _collect(
        stub, _requests(config, [_batch(7, 1, media_pb2.FRAME_ENCODING_JPEG)])
    )
    frame = responses[1].frames.frames[0]
    assert frame.encoding == media_pb2.FRAME_ENCODING_JPEG and frame.index == 7
    assert decode_frame(frame).shape == (64, 64, 3)


@pytest.mark.parametrize(
    ("requests", "message"),
    [
        (
            [enhancer_pb2.EnhanceRequest(frames=media_pb2.FrameBatch())],
            "first message must be config",
        ),
        (
            [enhancer_pb2.EnhanceRequest(config=enhancer_pb2.EnhanceConfig())] * 2,
            "config sent twice",
        ),
        ([enhancer_pb2.EnhanceRequest(config=enhancer_pb2.EnhanceConfig(upscale=3))], "upscale"),
        ([enhancer_pb2.EnhanceRequest(config=enhancer_pb2.EnhanceConfig())], "without end"),
        (
            [
                enhancer_pb2.EnhanceRequest(config=enhancer_pb2.EnhanceConfig()),
                enhancer_pb2.EnhanceRequest(
                    frames=media_pb2.FrameBatch(
                        frames=[media_pb2.Frame(index=0, data=b"not a jpeg")]
                    )
                ),
            ],
            "not a valid JPEG",
        ),
        (
            [
                enhancer_pb2.EnhanceRequest(config=enhancer_pb2.EnhanceConfig()),
                enhancer_pb2.EnhanceRequest(
                    frames=media_pb2.FrameBatch(
                        frames=[
                            media_pb2.Frame(
                                index=0,
                                data=b"abc",
                                width=4,
                                height=4,
                                encoding=media_pb2.FRAME_ENCODING_RGB24,
                            )
                        ]
                    )
                ),
            ],
            "expected 48",
        ),
    ],
)
async def test_bad_streams_are_rejected_with_invalid_argument(stub, requests, message):
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await _collect(stub, iter(requests))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in error.value.details()


async def test_metrics_count_rpcs_by_code(server, stub):
    config = enhancer_pb2.EnhanceConfig()
    await _collect(stub, _requests(config, [_batch(0, 1)]))
    with pytest.raises(grpc.aio.AioRpcError):
        await _collect(stub, iter([enhancer_pb2.EnhanceRequest(frames=media_pb2.FrameBatch())]))
    url = f"http://127.0.0.1:{server.metrics_port}/metrics"
    text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
    labels = 'grpc_method="Enhance",grpc_service="avatar.enhancer.v1.EnhancerService",grpc_type="bidi_stream"'
    assert f'grpc_server_handled_total{{grpc_code="OK",{labels}}} 1.0' in text
    assert f'grpc_server_handled_total{{grpc_code="INVALID_ARGUMENT",{labels}}} 1.0' in text
    assert 'avatar_enhancer_frames_total{backend="opencv"} 1.0' in text


@pytest.mark.parametrize(("asked", "used"), [(0.0, 0.7), (0.25, 0.25)])
async def test_started_says_the_fidelity_the_stream_uses(stub, asked, used):
    config = enhancer_pb2.EnhanceConfig(fidelity=asked)
    responses = await _collect(stub, _requests(config, []))
    started = responses[0].started
    assert started.backend == "opencv"
    assert started.HasField("fidelity") and started.fidelity == pytest.approx(used)
