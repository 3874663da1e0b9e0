"""Voice cloning: speaker samples decoded and checked, a tiny YourTTS-style model cloning them."""

from __future__ import annotations

import io

import numpy as np
import pytest

soundfile = pytest.importorskip(
    "soundfile", reason="coqui-tts (the 'coqui' extra) is not installed"
)
pytest.importorskip("TTS", reason="coqui-tts (the 'coqui' extra) is not installed")

from avatar.services.tts.engines.base import (  # noqa: E402
    InvalidSpeakerSampleError,
    SpeakerSampleRequiredError,
)
from avatar.services.tts.engines.coqui import CoquiEngine  # noqa: E402
from avatar.services.tts.engines.coqui_models import CoquiVoiceSpec  # noqa: E402
from avatar.services.tts.engines.speaker_sample import (  # noqa: E402
    decode_speaker_sample,
    speaker_wav_file,
)
from tests.support.tiny_yourtts import build_tiny_yourtts  # noqa: E402

pytestmark = pytest.mark.coqui
TEXT = "Hello world, how are you today?"


def encoded_voice(pitch_hertz: float, *, seconds: float = 2.0, rate: int = 16000, kind="WAV"):
    """A buzzy vowel-like tone standing in for a recorded voice, encoded as ``kind``."""
    time = np.arange(int(seconds * rate)) / rate
    tone = sum(np.sin(2 * np.pi * pitch_hertz * k * time) / k for k in range(1, 6))
    buffer = io.BytesIO()
    soundfile.write(buffer, (0.3 * tone).astype(np.float32), rate, format=kind)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["WAV", "FLAC", "OGG"])
def test_speaker_samples_decode_to_mono_float_and_back_to_wav(kind):
    sample = decode_speaker_sample(encoded_voice(150, kind=kind))
    assert sample.sample_rate == 16000 and sample.duration_seconds == pytest.approx(2.0, abs=0.01)
    assert sample.samples.ndim == 1 and 0.1 < np.abs(sample.samples).max() <= 1.0
    with speaker_wav_file(sample) as path:
        decoded, rate = soundfile.read(path)
    assert rate == 16000 and len(decoded) == len(sample.samples)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"definitely not audio", "not WAV"),
        (encoded_voice(150, seconds=0.1), "lasts 0.1 s"),
    ],
)
def test_bad_speaker_samples_are_rejected_clearly(data, message):
    with pytest.raises(InvalidSpeakerSampleError, match=message):
        decode_speaker_sample(data)


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> CoquiEngine:
    checkpoint = build_tiny_yourtts(tmp_path_factory.mktemp("yourtts"))
    engine = CoquiEngine([CoquiVoiceSpec("clone", str(checkpoint.checkpoint_path))], device="cpu")
    engine.load()
    return engine


def _audio(engine: CoquiEngine, sample: bytes) -> tuple[np.ndarray, list]:
    chunks = list(engine.synthesize(TEXT, "clone", sample))
    return np.concatenate([c.samples for c in chunks]), [p for c in chunks for p in c.phonemes]


def test_cloning_voice_is_listed_as_such(engine):
    (voice,) = engine.voices()
    assert voice.available, voice.error
    assert voice.supports_cloning and voice.has_timings and voice.sample_rate == 16000


def test_the_speaker_sample_shapes_the_voice(engine):
    low, phonemes = _audio(engine, encoded_voice(110))
    assert np.array_equal(low, _audio(engine, encoded_voice(110))[0])
    high, _ = _audio(engine, encoded_voice(260))
    assert not np.array_equal(low, high)
    assert abs(phonemes[-1].end_seconds - len(low) / 16000) < 0.05


def test_a_cloning_model_without_speakers_needs_a_sample(engine):
    with pytest.raises(SpeakerSampleRequiredError):
        engine.synthesize(TEXT, "clone")
    with pytest.raises(InvalidSpeakerSampleError):
        engine.synthesize(TEXT, "clone", b"not audio at all")
