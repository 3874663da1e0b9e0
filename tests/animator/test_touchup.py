"""High quality's touch-up inside the animator (``AnimateConfig.touchup``).

Real servers in this process: the animator alone for what the touch-up changes and for
its bad settings (with the default renderer it touches the still's regions up once and
draws every frame from it; with a lip-sync model it touches up every frame), and the
animator with the enhancer for the path it replaces (frames through the enhancer's
regions), on real rendered frames of the sample face.
"""

from __future__ import annotations

import math

import grpc
import numpy as np
import pytest

from avatar.animator.v1 import animator_pb2, animator_pb2_grpc
from avatar.common.v1 import media_pb2
from avatar.enhancer.v1 import enhancer_pb2, enhancer_pb2_grpc
from avatar_core.frames import decode_frame
from avatar_core.touchup import FEATHER_PIXELS
from tests.animator.lipsync_models import wav2lip_layout
from tests.support.races import paced, refused
from tests.support.services import in_process_server

SAMPLE_RATE = 16000
SECONDS = 0.6
# How far the head's motion carries a pixel of the still in these frames, at most.
HEAD_REACH = 16
# The gateway's regions of the sample face at 512 px (mouth and jaw, each eye with its
# brow), as ``avatar_gateway.appearance.moving_regions`` draws them.
REGIONS = (
    animator_pb2.Region(x=155, y=207, width=196, height=128),
    animator_pb2.Region(x=176, y=138, width=78, height=56),
    animator_pb2.Region(x=263, y=144, width=76, height=53),
)


@pytest.fixture
async def animator():
    async with (
        in_process_server("animator", {"AVATAR_ANIMATOR_WORKERS": "1"}) as server,
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        yield animator_pb2_grpc.AnimatorServiceStub(channel)


def _speech() -> bytes:
    times = np.arange(round(SECONDS * SAMPLE_RATE)) / SAMPLE_RATE
    return (np.sin(2 * np.pi * 180 * times) * 9000).astype("<i2").tobytes()


def _requests(photo: bytes, **fields) -> list[animator_pb2.AnimateRequest]:
    config = animator_pb2.AnimateConfig(
        image=photo,
        sample_rate=SAMPLE_RATE,
        motion=media_pb2.MotionSettings(seed=5),
        **fields,
    )
    return [
        animator_pb2.AnimateRequest(config=config),
        animator_pb2.AnimateRequest(audio=media_pb2.AudioChunk(pcm=_speech())),
        animator_pb2.AnimateRequest(end=animator_pb2.AnimateInputEnd()),
    ]


async def _frames(stub, requests) -> list[media_pb2.Frame]:
    frames = []
    async for response in stub.Animate(requests):
        frames.extend(response.frames.frames)
    return frames


def _pixels(frames: list[media_pb2.Frame]) -> list[np.ndarray]:
    return [decode_frame(frame) for frame in frames]


def _feathered_boxes(height: int, width: int, reach: int = 0) -> np.ndarray:
    """The regions with their feathers, each grown by ``reach`` more pixels."""
    inside = np.zeros((height, width), bool)
    for r in REGIONS:
        grow = FEATHER_PIXELS + reach
        inside[
            max(0, r.y - grow) : r.y + r.height + grow,
            max(0, r.x - grow) : r.x + r.width + grow,
        ] = True
    return inside


async def test_the_touchup_changes_only_the_feathered_regions_and_the_same_every_time(
    animator, sample_photo
):
    raw = media_pb2.FRAME_ENCODING_RGB24
    plain = _pixels(await _frames(animator, _requests(sample_photo, encoding=raw)))
    touchup = animator_pb2.Touchup(regions=REGIONS)
    touched = await _frames(animator, _requests(sample_photo, encoding=raw, touchup=touchup))
    again = await _frames(animator, _requests(sample_photo, encoding=raw, touchup=touchup))
    assert len(touched) == len(plain) == math.ceil(SECONDS * 25)
    assert [f.index for f in touched] == list(range(len(plain)))
    assert [f.data for f in again] == [f.data for f in touched]
    # The still's regions are touched up once and move with the head (its sway and
    # roll reach up to about a dozen pixels here); nothing beyond them changes.
    inside = _feathered_boxes(*plain[0].shape[:2], HEAD_REACH)
    for before, after in zip(plain, _pixels(touched), strict=True):
        assert np.array_equal(before[~inside], after[~inside])
        # The filter is at work inside the regions (sharper mouth and eyes).
        mouth = (slice(207, 335), slice(155, 351))
        assert np.abs(after[mouth].astype(int) - before[mouth]).mean() > 1.0


async def test_with_a_lip_sync_model_every_frame_is_touched_up_after_the_heads_motion(
    tmp_path, sample_photo
):
    model = wav2lip_layout(tmp_path / "wav2lip_gan_96.onnx")
    environment = {"AVATAR_ANIMATOR_WORKERS": "1", "AVATAR_ANIMATOR_LIPSYNC_MODEL": str(model)}
    raw = media_pb2.FRAME_ENCODING_RGB24
    touchup = animator_pb2.Touchup(regions=REGIONS)
    async with (
        in_process_server("animator", environment) as server,
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        stub = animator_pb2_grpc.AnimatorServiceStub(channel)
        plain = _pixels(await _frames(stub, _requests(sample_photo, encoding=raw)))
        touched = _pixels(
            await _frames(stub, _requests(sample_photo, encoding=raw, touchup=touchup))
        )
    # The model's mouth is not drawn from the still: the frames themselves are touched
    # up, in the regions where they lie in the frame, whatever the head does.
    inside = _feathered_boxes(*plain[0].shape[:2])
    mouth = (slice(207, 335), slice(155, 351))
    assert len(touched) == len(plain) == math.ceil(SECONDS * 25)
    for before, after in zip(plain, touched, strict=True):
        assert np.array_equal(before[~inside], after[~inside])
        assert np.abs(after[mouth].astype(int) - before[mouth]).mean() > 1.0


async def test_a_lower_fidelity_touches_up_more(animator, sample_photo):
    raw = media_pb2.FRAME_ENCODING_RGB24
    plain = _pixels(await _frames(animator, _requests(sample_photo, encoding=raw)))
    change = {}
    for fidelity in (0.9, 0.2):
        touchup = animator_pb2.Touchup(fidelity=fidelity, regions=REGIONS)
        frames = _pixels(
            await _frames(animator, _requests(sample_photo, encoding=raw, touchup=touchup))
        )
        change[fidelity] = np.mean(
            [np.abs(a.astype(int) - b).mean() for a, b in zip(frames, plain, strict=True)]
        )
    assert change[0.2] > change[0.9] > 0


@pytest.mark.parametrize(
    ("touchup", "message"),
    [
        (animator_pb2.Touchup(), "touchup: send 1 to 8 regions, got 0"),
        (animator_pb2.Touchup(regions=[REGIONS[0]] * 9), "touchup: send 1 to 8 regions, got 9"),
        (
            animator_pb2.Touchup(regions=[animator_pb2.Region(x=5, y=5, width=0, height=9)]),
            "touchup: a region needs a width and height of at least 1, got 0x9",
        ),
        (
            animator_pb2.Touchup(fidelity=1.5, regions=REGIONS),
            "touchup: fidelity must be between 0 and 1, got 1.5",
        ),
        (
            animator_pb2.Touchup(fidelity=-0.25, regions=REGIONS),
            "touchup: fidelity must be between 0 and 1, got -0.25",
        ),
        (
            animator_pb2.Touchup(fidelity=math.nan, regions=REGIONS),
            "touchup: fidelity must be between 0 and 1, got nan",
        ),
    ],
)
async def test_bad_touchup_settings_are_an_invalid_argument(
    animator, sample_photo, touchup, message
):
    error = await refused(
        lambda: _frames(animator, paced(_requests(sample_photo, touchup=touchup)))
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == message


@pytest.fixture
async def enhancer():
    async with (
        in_process_server("enhancer", {"AVATAR_ENHANCER_WORKERS": "1"}) as server,
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        yield enhancer_pb2_grpc.EnhancerServiceStub(channel)


async def _enhanced(stub, frames: list[media_pb2.Frame], **config) -> list[media_pb2.Frame]:
    requests = [
        enhancer_pb2.EnhanceRequest(config=enhancer_pb2.EnhanceConfig(**config)),
        *(
            enhancer_pb2.EnhanceRequest(frames=media_pb2.FrameBatch(frames=frames[i : i + 5]))
            for i in range(0, len(frames), 5)
        ),
        enhancer_pb2.EnhanceRequest(end=enhancer_pb2.EnhanceInputEnd()),
    ]
    out = []
    async for response in stub.Enhance(iter(requests)):
        out.extend(response.frames.frames)
    return out


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    error = np.mean((a.astype(np.float64) - b) ** 2)
    return 10 * math.log10(255**2 / error) if error else math.inf


async def test_the_touchup_matches_the_enhancers_regions_within_jpeg_noise(
    animator, enhancer, sample_photo
):
    # As the gateway does it: the still enhanced once, frames drawn from it.
    prepared = await animator.PrepareAvatar(animator_pb2.PrepareAvatarRequest(image=sample_photo))
    still = media_pb2.Frame(index=0, data=prepared.still_jpeg)
    appearance = (await _enhanced(enhancer, [still], jpeg_quality=95))[0].data
    drawn = {"appearance": appearance, "jpeg_quality": 90}
    # Before: the animator's frames through the enhancer, which touches up the regions.
    frames = await _frames(animator, _requests(sample_photo, **drawn))
    regions = [enhancer_pb2.Region(x=r.x, y=r.y, width=r.width, height=r.height) for r in REGIONS]
    before = _pixels(await _enhanced(enhancer, frames, regions=regions, jpeg_quality=90))
    # Now: the animator touches the still's regions up once and draws the frames from it.
    touchup = animator_pb2.Touchup(regions=REGIONS)
    now = _pixels(await _frames(animator, _requests(sample_photo, touchup=touchup, **drawn)))
    assert len(now) == len(before) == math.ceil(SECONDS * 25)
    mouth = (slice(207, 335), slice(155, 351))
    for old, new, untouched in zip(before, now, _pixels(frames), strict=True):
        assert np.abs(old.astype(int) - new).mean() < 1.5
        assert _psnr(old, new) > 40
        # Inside the regions the frames are the enhancer's, not the untouched ones: what
        # is left is the enhancer's second JPEG generation there, and that the animator
        # touched the still up before drawing the frame (the enhancer touched the frame).
        assert _psnr(old[mouth], new[mouth]) > max(37, _psnr(old[mouth], untouched[mouth]) + 2.5)
