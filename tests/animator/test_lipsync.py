"""Neural lip-sync in the engine: the model draws the mouth, the rig keeps everything else."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from avatar_animator.engine import AnimationSession, MotionSettings, PreparedFace
from avatar_animator.lipsync import LipSyncRenderer
from avatar_animator.lipsync_model import LipSyncModel
from avatar_animator.stream import AnimateStream, StreamSettings
from tests.animator.lipsync_models import edtalk_layout, wav2lip_layout

RATE = 24000
MOTION = MotionSettings(seed=5, blinks_per_minute=40.0)


@pytest.fixture(scope="module")
def wav2lip(tmp_path_factory) -> LipSyncRenderer:
    path = wav2lip_layout(tmp_path_factory.mktemp("models") / "wav2lip_96.onnx")
    return LipSyncRenderer(LipSyncModel(path, threads=1))


@pytest.fixture(scope="module")
def edtalk(tmp_path_factory) -> LipSyncRenderer:
    path = edtalk_layout(tmp_path_factory.mktemp("models") / "edtalk_256.onnx")
    return LipSyncRenderer(LipSyncModel(path, threads=1), weight=0.8)


def _speech(seconds: float = 2.0) -> np.ndarray:
    """Syllable-like bursts of a voiced tone, four per second."""
    times = np.arange(round(seconds * RATE)) / RATE
    envelope = np.clip(np.sin(2 * np.pi * 4 * times), 0, None)
    voice = np.sin(2 * np.pi * 180 * times) + 0.4 * np.sin(2 * np.pi * 900 * times)
    return np.round(9000 * envelope * voice).astype(np.int16)


def _frames(session, audio: np.ndarray, chunk: int) -> list[np.ndarray]:
    frames = []
    for start in range(0, len(audio), chunk):
        session.push_audio(audio[start : start + chunk])
        frames += session.render_ready()
    return frames + session.finish()


def _pair(renderer, face, audio, chunk=2400, motion=MOTION):
    synced = _frames(
        renderer.session(face, fps=25.0, sample_rate=RATE, motion=motion), audio, chunk
    )
    plain = _frames(AnimationSession(face, fps=25.0, sample_rate=RATE, motion=motion), audio, chunk)
    return synced, plain


def _regions(face: PreparedFace) -> tuple[np.ndarray, np.ndarray]:
    """(mouth, outside the face) masks of a frame, from the still's landmarks."""
    points = face.landmarks.astype(np.float32)
    size = float(max(points.max(axis=0) - points.min(axis=0)))
    mouth = np.zeros((face.height, face.width), np.uint8)
    cv2.fillConvexPoly(mouth, np.round(points[48:60]).astype(np.int32), 1)
    # The face: jaw and brows, with room below the chin and for the head's sway.
    outline = np.concatenate([points[:27], points[5:12] + (0, 0.15 * size)])
    face_mask = np.zeros_like(mouth)
    cv2.fillConvexPoly(face_mask, cv2.convexHull(np.round(outline).astype(np.int32)), 1)
    face_mask = cv2.dilate(face_mask, np.ones((21, 21), np.uint8))
    return mouth > 0, face_mask == 0


def _difference(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    return np.abs(first.astype(np.int16) - second).mean(axis=2)


@pytest.mark.parametrize("model", ["wav2lip", "edtalk"])
def test_the_model_draws_the_mouth_and_nothing_outside_the_face_changes(
    request, sample_face, model
):
    renderer = request.getfixturevalue(model)
    synced, plain = _pair(renderer, sample_face, _speech())
    assert len(synced) == len(plain) == 50
    mouth, outside = _regions(sample_face)
    for index in range(0, 50, 7):
        difference = _difference(synced[index], plain[index])
        assert difference[mouth].mean() > 20, index
        assert difference[outside].mean() < 3, index
    # Far from the face the pixels are the renderer's, bit for bit.
    assert all(np.array_equal(a[:60], b[:60]) for a, b in zip(synced, plain, strict=True))


def test_blinks_gaze_and_the_upper_face_stay_the_rigs(wav2lip, sample_face):
    synced, plain = _pair(wav2lip, sample_face, _speech(3.0))
    points = sample_face.landmarks
    top = int(points[17:27, 1].min()) - 10
    bottom = int(points[36:48, 1].max()) + 5  # the eyes (the rig's mouth stretches the nose)
    left, right = int(points[:17, 0].min()), int(points[:17, 0].max())
    eyes = (slice(top, bottom), slice(left, right))
    assert all(np.array_equal(a[eyes], b[eyes]) for a, b in zip(synced, plain, strict=True))
    still_eyes = sample_face.image[eyes]
    moved = [_difference(frame[eyes], still_eyes).mean() for frame in synced]
    assert max(moved) > 3 * min(moved) + 1  # a blink or a glance really happened


def test_the_mouth_follows_the_audio(wav2lip, sample_face):
    silent, _ = _pair(wav2lip, sample_face, np.zeros(RATE, np.int16))
    spoken, _ = _pair(wav2lip, sample_face, _speech(1.0))
    mouth, _ = _regions(sample_face)
    # Frame 6 (0.24 s) is in a syllable; frame 0 hears the same silence in both.
    assert _difference(spoken[6], silent[6])[mouth].mean() > 1
    assert (
        _difference(spoken[0], silent[0])[mouth].mean()
        < _difference(spoken[6], silent[6])[mouth].mean()
    )


def test_the_same_input_gives_the_same_frames(wav2lip, sample_face):
    audio = _speech(1.2)
    first, _ = _pair(wav2lip, sample_face, audio)
    second, _ = _pair(wav2lip, sample_face, audio)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    # Split differently, the frames go to the model in other batches: the same up to
    # the last bit of a float.
    rechunked, _ = _pair(wav2lip, sample_face, audio, chunk=977)
    assert len(rechunked) == len(first)
    assert max(np.abs(a.astype(int) - b).max() for a, b in zip(first, rechunked, strict=True)) <= 1


async def test_frame_counts_indices_and_timings_are_unchanged(wav2lip, sample_face):
    audio = _speech(1.37)
    settings = StreamSettings(fps=25.0, batch_size=4, max_audio_seconds=60.0, start_frame=90)
    streams = {}
    for name, lipsync in (("onnx", wav2lip), ("default", None)):
        stream = AnimateStream(sample_face, settings, lambda frame, i: i, lipsync=lipsync)
        stream.start(RATE)
        batches = []
        for start in range(0, len(audio), 3000):
            await stream.add_audio(audio[start : start + 3000].tobytes(), start)
            batches += list(stream.batches())
        await stream.finish()
        batches += list(stream.batches(flush=True))
        streams[name] = (batches, stream.frames_sent)
    expected = math.ceil(len(audio) * 25 / RATE)
    for batches, sent in streams.values():
        assert sent == expected
        assert [i for batch in batches for i in batch.frames] == list(range(expected))
        assert [batch.sequence for batch in batches] == list(range(1, len(batches) + 1))
        assert len(batches[0].frames) == 1  # the first frame still goes alone


def test_a_silent_idle_loop_still_loops(wav2lip, sample_face):
    # The gateway renders each avatar's idle clip with loop_frames: frame 10 must equal 0.
    session = wav2lip.session(
        sample_face, fps=25.0, sample_rate=RATE, motion=MOTION, loop_frames=10
    )
    frames = _frames(session, np.zeros(round(0.44 * RATE), np.int16), RATE)
    assert len(frames) == 11
    assert np.array_equal(frames[10], frames[0])
    assert not np.array_equal(frames[5], frames[0])  # the head and eyes moved meanwhile
