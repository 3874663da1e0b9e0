"""High quality's per-frame path chosen by the backend that enhanced the avatar's still.

With the OpenCV backend the animator touches up the moving regions itself
(``AnimateConfig.touchup``) and the enhancer sees only the still; with a restoration
model (``onnx``) every frame still goes through the enhancer, regions and all. The
pipeline, a live session's idle loop and the appearance run here on the stage harness's
fake services, with the real :class:`EnhancedStills` in front of them.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from avatar.animator.v1 import animator_pb2
from avatar.common.v1 import media_pb2
from avatar.enhancer.v1 import enhancer_pb2
from avatar_gateway.appearance import Appearance, EnhancedStills
from avatar_gateway.clients import StageError
from avatar_gateway.converse.idle import IdleLoopKey, render_idle_loop
from avatar_gateway.pipeline import SpeakPipeline
from tests.support.stage_harness import FakeAnimator, FakeEnhancer, StageHarness

STILL = b"still jpeg"


def _landmarks() -> np.ndarray:
    """68 points of a face in a 512 px frame, in dlib's order (jaw, brows, nose, eyes, mouth)."""
    jaw = [(150 + 13 * i, 250 + 90 * np.sin(np.pi * i / 16)) for i in range(17)]
    brows = [(175 + 9 * i, 150) for i in range(5)] + [(285 + 9 * i, 150) for i in range(5)]
    nose = [(256, 180 + 12 * i) for i in range(4)] + [(236 + 10 * i, 235) for i in range(5)]
    eyes = [(190 + 8 * i, 175 + (i % 3)) for i in range(6)]
    eyes += [(290 + 8 * i, 175 + (i % 3)) for i in range(6)]
    mouth = [(216 + 4 * i, 280 + 5 * np.sin(i)) for i in range(20)]
    return np.array(jaw + brows + nose + eyes + mouth, np.float32)


class _Animator(FakeAnimator):
    """The fake animator, which also prepares the avatar (its still and landmarks)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.prepared = 0

    async def prepare(self, image: bytes, timeout: float | None):
        self.prepared += 1
        return animator_pb2.PrepareAvatarResponse(
            still_jpeg=STILL,
            frame_width=512,
            frame_height=512,
            landmarks=[animator_pb2.Point(x=float(x), y=float(y)) for x, y in _landmarks()],
        )


class _Enhancer(FakeEnhancer):
    """The fake enhancer, saying which backend (and fidelity) enhances, as the real one does."""

    def __init__(self, backend: str, **options: Any) -> None:
        super().__init__(**options)
        self.backend = backend

    async def enhance(self, requests, timeout):
        async for response in super().enhance(requests, timeout):
            if response.WhichOneof("event") == "started":
                response.started.backend = self.backend
                response.started.fidelity = 0.6
            yield response


def _harness(backend: str, **plan_changes: Any) -> StageHarness:
    harness = StageHarness(
        animator=_Animator(),
        enhancer=_Enhancer(backend),
        plan_changes={"high_quality": True, **plan_changes},
    )
    stills = EnhancedStills(harness.animator, harness.enhancer)
    harness.clients = replace(harness.clients, stills=stills)
    harness.context = replace(harness.context, clients=harness.clients)
    return harness


async def _speak(harness: StageHarness) -> tuple[list, SpeakPipeline]:
    pipeline = SpeakPipeline(harness.clients, harness.plan, lambda: harness.deadline)
    events = [event async for event in pipeline.events()]
    return events, pipeline


def _frames(events: list) -> list[media_pb2.Frame]:
    return [frame for event in events if event.HasField("frames") for frame in event.frames.frames]


async def test_with_opencv_the_animator_touches_up_and_the_enhancer_sees_only_the_still():
    harness = _harness("opencv")
    events, pipeline = await _speak(harness)
    frames = _frames(events)
    # One Enhance call, for the still alone; the frames come from the animator as drawn.
    assert harness.enhancer.calls == 1
    sent = [r for r in harness.enhancer.requests if isinstance(r, enhancer_pb2.EnhanceRequest)]
    assert [len(r.frames.frames) for r in sent if r.HasField("frames")] == [1]
    assert frames and {f.data for f in frames} == {b"frame"}
    assert [f.index for f in frames] == list(range(len(frames)))
    summary = pipeline.measurements.summary()
    assert {stage.stage for stage in summary.stages} == {"tts", "animator"}
    assert summary.frames == len(frames)
    # Every sentence's Animate call draws from the enhanced still and touches it up.
    assert len(harness.animator.configs) == 2
    appearance = await harness.clients.stills.get(harness.plan.content_hash, b"", None)
    for config in harness.animator.configs:
        assert config.appearance == STILL + b"+enhanced"
        assert config.jpeg_quality == 90
        assert config.touchup.fidelity == pytest.approx(0.6)
        assert [(r.x, r.y, r.width, r.height) for r in config.touchup.regions] == [
            (r.x, r.y, r.width, r.height) for r in appearance.regions
        ]


async def test_with_opencv_frames_go_to_the_client_in_its_encoding():
    harness = _harness("opencv", frame_encoding=media_pb2.FRAME_ENCODING_RGB24)
    await _speak(harness)
    # No enhancer hop: the animator can send what the client asked for.
    assert {c.encoding for c in harness.animator.configs} == {media_pb2.FRAME_ENCODING_RGB24}


async def test_with_a_restoration_model_every_frame_still_goes_through_the_enhancer():
    harness = _harness("onnx", frame_encoding=media_pb2.FRAME_ENCODING_RGB24)
    events, pipeline = await _speak(harness)
    frames = _frames(events)
    # The still, then one stream for the request's frames, with the moving regions.
    assert harness.enhancer.calls == 2
    assert len(harness.enhancer.configs) == 2 and len(harness.enhancer.configs[1].regions) == 3
    assert frames and {f.data for f in frames} == {b"frame+enhanced"}
    assert [f.index for f in frames] == list(range(len(frames)))
    summary = pipeline.measurements.summary()
    assert {stage.stage for stage in summary.stages} == {"tts", "animator", "enhancer"}
    for config in harness.animator.configs:
        assert not config.HasField("touchup")
        assert config.encoding == media_pb2.FRAME_ENCODING_JPEG
        assert config.appearance == STILL + b"+enhanced"


async def test_an_enhancer_that_names_no_backend_keeps_the_per_frame_enhancer():
    harness = _harness("")
    events, _ = await _speak(harness)
    assert harness.enhancer.calls == 2
    assert {f.data for f in _frames(events)} == {b"frame+enhanced"}


async def test_a_still_that_cannot_be_enhanced_fails_the_request_and_stops_every_stage():
    harness = _harness("opencv")
    harness.enhancer.fail_after = 0
    baseline = asyncio.all_tasks()
    with pytest.raises(StageError) as caught:
        await _speak(harness)
    assert caught.value.stage == "enhancer"
    assert harness.animator.calls == 0
    assert asyncio.all_tasks() - baseline == set()


@pytest.mark.parametrize(("backend", "enhance_calls"), [("opencv", 1), ("onnx", 2)])
async def test_a_live_sessions_idle_loop_takes_the_same_path(backend, enhance_calls):
    harness = _harness(backend)
    key = IdleLoopKey(harness.plan.content_hash, 25.0, media_pb2.FRAME_ENCODING_JPEG, True)
    loop = await render_idle_loop(harness.clients, key, b"photo", 10, None)
    assert len(loop.frames) == 10
    assert harness.enhancer.calls == enhance_calls
    config = harness.animator.configs[0]
    assert config.HasField("touchup") == (backend == "opencv")
    assert config.jpeg_quality == (90 if backend == "opencv" else 95)
    expected = b"frame" if backend == "opencv" else b"frame+enhanced"
    assert set(loop.frames) == {expected}


def test_only_an_opencv_still_brings_a_touchup():
    region = enhancer_pb2.Region(x=1, y=2, width=3, height=4)
    touchup = Appearance(STILL, (region,), backend="opencv", fidelity=0.5).touchup
    assert touchup is not None and touchup.fidelity == 0.5
    assert [(r.x, r.y, r.width, r.height) for r in touchup.regions] == [(1, 2, 3, 4)]
    # The enhancer's fidelity unknown: the animator's default.
    assert not Appearance(STILL, (region,), backend="opencv").touchup.HasField("fidelity")
    assert Appearance(STILL, (region,), backend="onnx").touchup is None
    assert Appearance(STILL, (region,)).touchup is None
