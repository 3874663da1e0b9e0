"""Acceptance: clips of real speech, judged by an independent landmark detector.

Sentences of different phoneme mixes are synthesised in-process (audio and IPA phoneme
timings) by two voices: the default English voice (hibari's neural "heart", timed by the
model's own durations; five sentences of a general mix) and espeak-ng (exact timings; three
sentences dense in p, b and m), and
animated with the default idle life on two photos: the sample (smiling, teeth
showing) and the same face with its mouth closed (so the teeth are drawn). Every
frame is then measured by :class:`FaceObserver` (face detection and 68 landmarks
found afresh per frame), and the clip must show:

* mouth opening that follows the loudness, best at lag 0 +-1 frame with r >= 0.5;
* lips shut (inner lips within 5% of the mouth width) at the centre of every p, b, m;
* at least one blink per 6 seconds, each short;
* head motion that is there, but small and smooth;
* without timings (audio alone), a mouth in sync with the loudness at lag 0.

It also checks that the same seed renders byte-identical frames and that another
seed moves the head and places the blinks differently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pytest

from avatar_animator.engine import AnimationSession, MotionSettings
from avatar_animator.face import PreparedFace
from avatar_core.timing import Phoneme
from avatar_tts.config import TtsConfig
from avatar_tts.engines.espeak import EspeakEngine
from avatar_tts.engines.hibari import HibariEngine
from tests.animator.observer import (
    Observation,
    blinks,
    lagged_correlations,
    loudness_per_frame,
)

TEXT = (
    "Maybe Bob can pop by the lab on Monday. My mother made apple pie for him. "
    "Please bring the big map, because we might be lost."
)
# For the neural voice, a general mix: bilabials (18), open vowels, fricatives and rounded vowels (f, ʃ, uː,
# oʊ), liquids. Its nasals sound as loud as vowels while the lips are shut (as they should be),
# so TEXT's dense m-b-p chains cap its loudness correlation near 0.45 where espeak's quieter
# nasals allow more; the sync is judged here on sentences a user would say.
NEURAL_TEXT = (
    "Please bring the big map, because we might be lost. Few shoes fit, so Ruth wore the old "
    "blue ones. The children played by the river until the sun went down. My brother keeps a "
    "camera in his pocket. Father parked his car by the dock at dawn."
)
FPS = 25.0
SEED = 1
PHOTOS = {"smiling with teeth": "sample_face.jpg", "mouth closed": "sample_face_closed.jpg"}
BILABIALS = ("p", "b", "m")


@dataclass(frozen=True)
class Speech:
    samples: np.ndarray
    sample_rate: int
    chunks: list
    phonemes: list[Phoneme]

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class Clip:
    face: PreparedFace
    frames: list[np.ndarray]
    observations: list[Observation]

    def series(self, name: str) -> np.ndarray:
        return np.array([getattr(observation, name) for observation in self.observations])


def _speak(engine, text: str, voice: str, sample_rate: int) -> Speech:
    chunks = list(engine.synthesize(text, voice))
    return Speech(
        samples=np.concatenate([chunk.samples for chunk in chunks]),
        sample_rate=sample_rate,
        chunks=chunks,
        phonemes=[phoneme for chunk in chunks for phoneme in chunk.phonemes],
    )


@pytest.fixture(scope="module", params=["neural default voice", "espeak-ng"])
def speech(request) -> Speech:
    if request.param == "espeak-ng":
        engine = EspeakEngine()
        return _speak(engine, TEXT, "en-us", engine.sample_rate)
    config = TtsConfig.from_env({})
    assert config.default_voice == "heart"  # the default English voice is the neural one
    engine = HibariEngine(list(config.hibari_voices))
    engine.load()
    (voice,) = engine.voices()
    return _speak(engine, NEURAL_TEXT, voice.name, voice.sample_rate)


def render(
    face: PreparedFace, speech: Speech, seed: int, *, timings: bool = True
) -> list[np.ndarray]:
    """Streams the speech into a session as the TTS produced it, chunk by chunk."""
    session = AnimationSession(
        face, fps=FPS, sample_rate=speech.sample_rate, motion=MotionSettings(seed=seed)
    )
    frames = []
    for chunk in speech.chunks:
        if timings:
            session.push_phonemes(chunk.phonemes)
        session.push_audio(chunk.samples)
        frames += session.render_ready()
    return frames + session.finish()


@pytest.fixture(scope="module")
def clips(preparer, speech, observer) -> dict[str, Clip]:
    result = {}
    for label, name in PHOTOS.items():
        face, _ = preparer.prepare(
            (resources.files("avatar_devtools") / "assets" / name).read_bytes()
        )
        frames = render(face, speech, SEED)
        result[label] = Clip(face, frames, [observer.observe(frame) for frame in frames])
    return result


@pytest.fixture(params=list(PHOTOS))
def clip(request, clips) -> Clip:
    return clips[request.param]


def test_the_clip_has_a_frame_for_every_25th_of_a_second(clips, speech):
    for clip in clips.values():
        assert len(clip.frames) == math.ceil(speech.seconds * FPS)
    assert speech.seconds > 6.0  # long enough to judge blinks


def test_mouth_opening_follows_the_loudness(clip, speech):
    gaps = clip.series("lip_gap")
    loudness = loudness_per_frame(speech.samples, speech.sample_rate, FPS, len(gaps))
    correlations = lagged_correlations(gaps, loudness, range(-4, 5))
    best = max(correlations, key=correlations.get)
    assert abs(best) <= 1, correlations
    assert correlations[best] >= 0.5, correlations
    assert correlations[0] >= 0.5, correlations


def test_without_timings_the_mouth_follows_the_audio_within_a_frame(clips, speech, observer):
    face = clips["smiling with teeth"].face
    frames = render(face, speech, SEED, timings=False)
    gaps = np.array([observer.observe(frame).lip_gap for frame in frames])
    loudness = loudness_per_frame(speech.samples, speech.sample_rate, FPS, len(gaps))
    correlations = lagged_correlations(gaps, loudness, range(-4, 5))
    assert max(correlations, key=correlations.get) == 0, correlations
    assert correlations[0] >= 0.6, correlations


def test_lips_close_at_the_centre_of_every_p_b_and_m(clip, speech):
    gaps = clip.series("lip_gap")
    mouth_width = float(np.median(clip.series("mouth_width")))
    bilabials = [p for p in speech.phonemes if p.symbol.strip("ˈˌː") in BILABIALS]
    assert len(bilabials) >= 15
    open_at_centre = {}
    for phoneme in bilabials:
        index = round((phoneme.start_seconds + phoneme.end_seconds) / 2 * FPS)
        if gaps[index] > 0.05 * mouth_width:
            open_at_centre[f"{phoneme.symbol}@{phoneme.start_seconds:.2f}s"] = gaps[index]
    assert open_at_centre == {}, f"lips apart (px) with mouth width {mouth_width:.0f} px"
    assert np.percentile(gaps, 95) > 0.25 * mouth_width  # and it does open wide


def test_eyes_blink_at_least_once_every_six_seconds(clip, speech):
    ratios = clip.series("eye_aspect_ratio")
    runs = blinks(ratios)
    assert len(runs) >= speech.seconds / 6.0, runs
    assert all(last - first + 1 <= 6 for first, last in runs), runs  # 100-200 ms each
    assert min(ratios[first : last + 1].min() for first, last in runs) < 0.35 * np.median(ratios)


def test_head_moves_a_little_and_smoothly(clip):
    centres = clip.series("head_centre")
    eye_distance = float(np.median(clip.series("eye_distance")))
    roll = clip.series("roll_degrees")
    drift = np.linalg.norm(centres - np.median(centres, axis=0), axis=1)
    steps = np.linalg.norm(np.diff(centres, axis=0), axis=1)
    assert centres.std(axis=0).max() > 0.01 * eye_distance  # present
    assert np.ptp(roll) > 0.3
    assert drift.max() < 0.15 * eye_distance  # small
    assert np.ptp(roll) < 5.0
    assert steps.max() < 0.03 * eye_distance  # no jumps


def test_same_seed_renders_identical_frames_and_another_seed_moves_differently(
    clips, speech, observer
):
    clip = clips["smiling with teeth"]
    again = render(clip.face, speech, SEED)
    assert len(again) == len(clip.frames)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(clip.frames, again, strict=True))
    other = [observer.observe(frame) for frame in render(clip.face, speech, SEED + 1)]
    ours = clip.series("head_centre")
    theirs = np.array([observation.head_centre for observation in other])
    assert np.abs(ours - theirs).max() > 2.0  # the head takes another path
    blink_frames = {first for first, _ in blinks(clip.series("eye_aspect_ratio"))}
    other_blinks = {first for first, _ in blinks(np.array([o.eye_aspect_ratio for o in other]))}
    assert blink_frames and other_blinks and blink_frames != other_blinks
    # The mouth follows the speech, not the seed.
    gaps = np.array([observation.lip_gap for observation in other])
    assert np.corrcoef(gaps, clip.series("lip_gap"))[0, 1] > 0.9
