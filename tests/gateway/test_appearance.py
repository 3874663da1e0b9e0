"""High quality's enhanced still: made once per avatar, and the regions that move."""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest

from avatar.animator.v1 import animator_pb2
from avatar.enhancer.v1 import enhancer_pb2
from avatar_gateway.appearance import EnhancedStills, moving_regions
from avatar_gateway.clients import StageError


def _landmarks() -> np.ndarray:
    """68 points of a face about 200 px wide in a 512 px frame."""
    points = np.zeros((68, 2), np.float32)
    jaw = np.linspace(0, np.pi, 17)
    points[:17] = np.stack([256 - 100 * np.cos(jaw), 250 + 110 * np.sin(jaw)], 1)
    points[17:27] = np.stack([np.linspace(170, 340, 10), np.full(10, 200)], 1)
    points[27:36] = np.stack([np.full(9, 256), np.linspace(220, 300, 9)], 1)
    points[36:42] = np.stack([np.linspace(185, 230, 6), np.full(6, 225)], 1)
    points[42:48] = np.stack([np.linspace(282, 327, 6), np.full(6, 225)], 1)
    mouth = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    points[48:68] = np.stack([256 + 45 * np.cos(mouth), 320 + 15 * np.sin(mouth)], 1)
    return points


def _contains(region, points) -> bool:
    x, y = points[:, 0], points[:, 1]
    return bool(
        np.all(x >= region.x)
        and np.all(x <= region.x + region.width)
        and np.all(y >= region.y)
        and np.all(y <= region.y + region.height)
    )


def test_the_regions_hold_the_mouth_jaw_and_eyes_with_room_to_move():
    points = _landmarks()
    mouth, left_eye, right_eye = moving_regions(points, 512, 512)
    assert _contains(mouth, points[48:68]) and _contains(mouth, points[5:12])
    assert _contains(left_eye, points[36:42]) and _contains(right_eye, points[42:48])
    # Room for the sway around the mouth; still far from the whole frame.
    assert mouth.x < points[48:68, 0].min() - 20
    assert mouth.width * mouth.height < 0.35 * 512 * 512


def test_regions_are_clipped_to_the_frame():
    points = _landmarks() + np.array([200, 150], np.float32)  # face off the bottom right
    for region in moving_regions(points, 512, 512):
        assert region.x + region.width <= 512 and region.y + region.height <= 512


def test_without_68_landmarks_the_whole_frame_is_one_region():
    (region,) = moving_regions(np.zeros((5, 2), np.float32), 320, 240)
    assert (region.x, region.y, region.width, region.height) == (0, 0, 320, 240)


class _FakeAnimator:
    def __init__(self) -> None:
        self.calls = 0

    async def prepare(self, image, timeout):
        self.calls += 1
        await asyncio.sleep(0.01)
        return animator_pb2.PrepareAvatarResponse(
            still_jpeg=b"still of " + image,
            frame_width=512,
            frame_height=512,
            landmarks=[animator_pb2.Point(x=float(x), y=float(y)) for x, y in _landmarks()],
        )


class _FakeEnhancer:
    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail

    def enhance(self, requests, timeout):
        self.calls += 1
        return self._responses(requests)

    async def _responses(self, requests):
        frames = []
        async for request in requests:
            if request.WhichOneof("message") == "frames":
                frames.extend(request.frames.frames)
        if self.fail:
            raise StageError("enhancer", grpc.StatusCode.UNAVAILABLE, "enhancer is down")
        yield enhancer_pb2.EnhanceResponse(started=enhancer_pb2.EnhanceStarted(backend="opencv"))
        enhanced = [type(f)(index=f.index, data=b"enhanced " + f.data) for f in frames]
        yield enhancer_pb2.EnhanceResponse(frames={"frames": enhanced})


async def test_the_still_is_enhanced_once_for_many_requests_at_once():
    animator, enhancer = _FakeAnimator(), _FakeEnhancer()
    stills = EnhancedStills(animator, enhancer)
    results = await asyncio.gather(*(stills.get("hash-a", b"photo", None) for _ in range(5)))
    again = await stills.get("hash-a", b"photo", None)
    assert animator.calls == enhancer.calls == 1
    assert {r.still for r in results} == {again.still} == {b"enhanced still of photo"}
    assert len(again.regions) == 3


async def test_a_failure_is_reported_and_not_kept():
    animator, enhancer = _FakeAnimator(), _FakeEnhancer(fail=True)
    stills = EnhancedStills(animator, enhancer)
    with pytest.raises(StageError, match="down"):
        await stills.get("hash-a", b"photo", None)
    enhancer.fail = False
    appearance = await stills.get("hash-a", b"photo", None)
    assert appearance.still == b"enhanced still of photo" and enhancer.calls == 2


async def test_the_least_recently_used_avatar_goes_first():
    animator, enhancer = _FakeAnimator(), _FakeEnhancer()
    stills = EnhancedStills(animator, enhancer, capacity=2)
    for name in ("a", "b", "a", "c"):
        await stills.get(name, name.encode(), None)
    assert len(stills) == 2 and enhancer.calls == 3
    await stills.get("a", b"a", None)  # kept: used after b
    assert enhancer.calls == 3
    await stills.get("b", b"b", None)  # gone: made again
    assert enhancer.calls == 4
