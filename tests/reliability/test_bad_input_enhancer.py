"""Bad input to the enhancer: clear statuses, and the service keeps serving.

Bad model files too: a restoration model that is missing, corrupt or of an unknown
layout leaves the ``onnx`` backend NOT_SERVING (its own health check, one log line)
while the server and its ``opencv`` backend serve; streams that ask for ``onnx`` get
FAILED_PRECONDITION naming the file, what it holds and what was expected.
"""

from __future__ import annotations

import logging
import math

import grpc
import pytest
from grpc_health.v1 import health_pb2

from avatar.common.v1 import media_pb2
from avatar.enhancer.v1 import enhancer_pb2, enhancer_pb2_grpc
from tests.enhancer.restoration_models import gfpgan_layout, identity_of, shrinking
from tests.reliability.harness import (
    Case,
    assert_still_serving,
    check_case,
    enhance_requests,
    health_status,
    settled_outcome,
    small_frame_batch,
)
from tests.reliability.inputs import (
    NOT_AN_IMAGE,
    TRUNCATED_JPEG,
    jpeg_claiming,
    peak_rss_bytes,
    png_bomb,
    reset_peak_rss,
)
from tests.support.races import paced
from tests.support.services import in_process_server

pytestmark = pytest.mark.asyncio(loop_scope="session")

INVALID = grpc.StatusCode.INVALID_ARGUMENT
RGB24 = media_pb2.FRAME_ENCODING_RGB24
CONFIG = enhancer_pb2.EnhanceRequest(config=enhancer_pb2.EnhanceConfig())
END = enhancer_pb2.EnhanceRequest(end=enhancer_pb2.EnhanceInputEnd())


def _enhance(*requests: enhancer_pb2.EnhanceRequest):
    return lambda shared: shared.stubs.enhancer.Enhance(paced(requests), timeout=30)


def _with_config(**fields):
    config = enhancer_pb2.EnhanceRequest(config=enhancer_pb2.EnhanceConfig(**fields))
    batch = enhancer_pb2.EnhanceRequest(frames=small_frame_batch())
    return _enhance(config, batch, END)


def _with_faces(*faces: enhancer_pb2.FaceLandmarks):
    batch = enhancer_pb2.EnhanceRequest(frames=small_frame_batch(), faces=faces)
    return _enhance(*enhance_requests(batch))


def _frame(**fields):
    batch = media_pb2.FrameBatch(frames=[media_pb2.Frame(**fields)], fps=25.0)
    return _enhance(*enhance_requests(enhancer_pb2.EnhanceRequest(frames=batch)))


CASES = [
    Case(
        "frames before config",
        "enhancer",
        _enhance(enhancer_pb2.EnhanceRequest(frames=small_frame_batch()), CONFIG, END),
        INVALID,
        "the first message must be config, got frames",
    ),
    Case("config twice", "enhancer", _enhance(CONFIG, CONFIG, END), INVALID, "config sent twice"),
    Case("empty stream", "enhancer", _enhance(), INVALID, "empty stream: send config first"),
    Case("no end", "enhancer", _enhance(CONFIG), INVALID, "stream closed without end"),
    Case(
        "unknown backend",
        "enhancer",
        _with_config(backend="codeformer"),
        grpc.StatusCode.NOT_FOUND,
        "unknown enhancer backend 'codeformer'; available: opencv",
    ),
    Case(
        "onnx backend without a model",
        "enhancer",
        _with_config(backend="onnx"),
        grpc.StatusCode.FAILED_PRECONDITION,
        "enhancer backend 'onnx' has no model: set AVATAR_ENHANCER_MODEL",
    ),
    Case(
        "landmarks of 3 numbers",
        "enhancer",
        _with_faces(enhancer_pb2.FaceLandmarks(frame_index=0, points=[1, 2, 3])),
        INVALID,
        "frame 0: face landmarks are 10 finite numbers, got 3",
    ),
    Case(
        "landmarks of a frame not in the batch",
        "enhancer",
        _with_faces(enhancer_pb2.FaceLandmarks(frame_index=9, points=[0] * 10)),
        INVALID,
        "face landmarks for frame 9, which is not in the batch",
    ),
    Case(
        "landmarks twice for one frame",
        "enhancer",
        _with_faces(
            *[
                enhancer_pb2.FaceLandmarks(frame_index=0, points=[i, 20, i + 30, 20] + [i + 15] * 6)
                for i in (5, 9)
            ]
        ),
        INVALID,
        "face landmarks sent twice for frame 0",
    ),
    Case("upscale 3", "enhancer", _with_config(upscale=3), INVALID, "upscale must be 1 or 2"),
    Case("fidelity 5", "enhancer", _with_config(fidelity=5), INVALID, "between 0 and 1"),
    Case("fidelity NaN", "enhancer", _with_config(fidelity=math.nan), INVALID, "got nan"),
    Case("output encoding 9", "enhancer", _with_config(encoding=9), INVALID, "encoding 9"),
    Case("JPEG quality 500", "enhancer", _with_config(jpeg_quality=500), INVALID, "1-100"),
    Case(
        "RGB24 frame of the wrong size",
        "enhancer",
        _frame(data=bytes(10), width=4, height=4, encoding=RGB24),
        INVALID,
        "RGB24 data is 10 bytes, expected 48 for 4x4",
    ),
    Case(
        "RGB24 frame claiming 100000x100000",
        "enhancer",
        _frame(data=bytes(12), width=100_000, height=100_000, encoding=RGB24),
        INVALID,
        "100000x100000 is over the limit",
    ),
    Case(
        "JPEG of another size than the frame states",
        "enhancer",
        _frame(data=small_frame_batch().frames[0].data, width=640, height=480),
        INVALID,
        "the JPEG is 64x64 but the frame says 640x480",
    ),
    Case(
        "unknown frame encoding",
        "enhancer",
        _frame(data=b"x", encoding=9),
        INVALID,
        "unknown encoding 9",
    ),
    Case("garbage frame", "enhancer", _frame(data=NOT_AN_IMAGE), INVALID, "not a valid JPEG"),
    Case("truncated JPEG frame", "enhancer", _frame(data=TRUNCATED_JPEG), INVALID, "not a valid"),
    Case("PNG bomb as a frame", "enhancer", _frame(data=png_bomb()), INVALID, "not a valid JPEG"),
    Case(
        "JPEG frame claiming 30000x20000",
        "enhancer",
        _frame(data=jpeg_claiming(30_000, 20_000)),
        INVALID,
        "the JPEG is 30000x20000, over the limit",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
async def test_bad_input_gets_a_clear_status(shared, case):
    await check_case(shared, case)


@pytest.mark.parametrize(
    "data", [png_bomb(), jpeg_claiming(30_000, 20_000)], ids=["PNG 20000x20000", "JPEG 30000x20000"]
)
async def test_frame_bombs_are_refused_without_a_large_allocation(shared, data):
    batch = media_pb2.FrameBatch(frames=[media_pb2.Frame(data=data)], fps=25.0)
    requests = enhance_requests(enhancer_pb2.EnhanceRequest(frames=batch))
    reset_peak_rss()
    before = peak_rss_bytes()
    code, _ = await settled_outcome(lambda: shared.stubs.enhancer.Enhance(paced(requests)))
    assert code == INVALID
    assert peak_rss_bytes() - before < 64 * 1024 * 1024  # decoding would take gigabytes
    await assert_still_serving(shared.stack, "enhancer")


def _missing(directory):
    return directory / "GFPGANv1.4.onnx"


def _corrupt(directory):
    path = directory / "codeformer.onnx"
    path.write_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:0\n")
    return path


def _truncated(directory):
    whole = gfpgan_layout(directory / "whole.onnx").read_bytes()
    path = directory / "gpen_bfr_512.onnx"
    path.write_bytes(whole[: len(whole) // 3])
    return path


def _lip_sync(directory):
    inputs = {"source": [1, 1, 80, 16], "target": [1, 6, 96, 96]}
    return identity_of(directory / "wav2lip_gan_96.onnx", inputs, "target")


def _wrong_input(directory):
    return identity_of(directory / "restoreformer.onnx", {"image": [1, 3, 512, 512]}, "image")


def _wrong_output(directory):
    return shrinking(directory / "gfpgan_half.onnx")


BAD_MODELS = [
    (_missing, "cannot read the restoration model {name}: No such file or directory"),
    (_corrupt, "{name} is not a model ONNX Runtime can load (56 bytes: "),
    (_truncated, "{name} is not a model ONNX Runtime can load (709 bytes: Failed to load model"),
    (_lip_sync, "{name} has inputs `source` [1,1,80,16] float, `target` [1,6,96,96] float"),
    (_wrong_input, "{name} has inputs `image` [1,3,512,512] float"),
    (_wrong_output, "{name} returned [1, 3, 32, 32] for a [1, 3, 64, 64] input"),
]


@pytest.mark.parametrize(
    ("make", "found"),
    BAD_MODELS,
    ids=["missing", "corrupt", "truncated", "lip-sync layout", "unknown input", "wrong output"],
)
async def test_a_bad_model_file_stops_only_the_onnx_backend(tmp_path, caplog, make, found):
    path = make(tmp_path)
    environment = {"AVATAR_ENHANCER_MODEL": str(path), "AVATAR_ENHANCER_BACKEND": "onnx"}
    caplog.set_level(logging.INFO, logger="avatar_enhancer")
    async with in_process_server("enhancer", environment) as server:
        address = f"127.0.0.1:{server.port}"
        service = "avatar.enhancer.v1.EnhancerService"
        serving, not_serving = (
            health_pb2.HealthCheckResponse.SERVING,
            health_pb2.HealthCheckResponse.NOT_SERVING,
        )
        assert await health_status(address) == serving
        assert await health_status(address, f"{service}/opencv") == serving
        assert await health_status(address, f"{service}/onnx") == not_serving
        async with grpc.aio.insecure_channel(address) as channel:
            stub = enhancer_pb2_grpc.EnhancerServiceStub(channel)
            batch = enhancer_pb2.EnhanceRequest(frames=small_frame_batch())
            code, details = await settled_outcome(
                lambda: stub.Enhance(paced(enhance_requests(batch)))
            )
            opencv = enhancer_pb2.EnhanceRequest(
                config=enhancer_pb2.EnhanceConfig(backend="opencv")
            )
            code_opencv, _ = await settled_outcome(
                lambda: stub.Enhance(paced([opencv, batch, END]))
            )
    assert code == grpc.StatusCode.FAILED_PRECONDITION, details
    assert details.startswith("enhancer backend 'onnx' is not serving: ")
    # Callers learn the file's name; the log has its full path.
    assert found.format(name=path.name) in details and str(tmp_path) not in details
    if make not in (_wrong_output,):
        assert "expected " in details and "`input` [1,3,S,S] float RGB in [-1,1]" in details
    assert code_opencv == grpc.StatusCode.OK
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "'onnx' is NOT_SERVING (health check avatar.enhancer.v1.EnhancerService/onnx)" in (
        errors[0].getMessage()
    )
    assert found.format(name=path) in errors[0].getMessage()
