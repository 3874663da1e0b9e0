"""Voice cloning: speaker samples decoded and checked, a tiny YourTTS-style model cloning them."""

from __future__ import annotations

import io

import numpy as np
import pytest

soundfile = pytest.importorskip(
    "soundfile", reason="coqui-tts (the 'coqui' extra) is not installed"
)
pytest.importorskip("TTS", reason="coqui-tts (the 'coqui' extra) is not installed")

from avatar_tts.engines.base import (  # noqa: E402
    InvalidSpeakerSampleError,
    SpeakerSampleRequiredError,
)
from avatar_tts.engines.coqui import CoquiEngine  # noqa: E402
from avatar_tts.engines.coqui_models import CoquiVoiceSpec  # noqa: E402
from avatar_tts.engines.speaker_sample import (  # noqa: E402
    decode_speaker_sample,
    speaker_wav_file,
)
from tests.support.tiny_yourtts import build_tiny_yourtts  # noqa: E402

pytestmark = pytest.mark.coqui
TEXT = "Hello world, how are you today?"


def _tone(pitch_hertz: float, seconds: float, rate: int) -> np.ndarray:
    time = np.arange(int(seconds * rate)) / rate
    tone = sum(np.sin(2 * np.pi * pitch_hertz * k * time) / k for k in range(1, 6))
    return (0.3 * tone).astype(np.float32)


def encoded_voice(pitch_hertz: float, *, seconds: float = 4.0, rate: int = 16000, kind="WAV"):
    """A buzzy vowel-like tone standing in for a recorded voice, encoded as ``kind``
    (a libsndfile format: WAV, FLAC, OGG, MP3)."""
    buffer = io.BytesIO()
    soundfile.write(buffer, _tone(pitch_hertz, seconds, rate), rate, format=kind)
    return buffer.getvalue()


def encoded_aac(pitch_hertz: float, *, seconds: float = 4.0, rate: int = 16000) -> bytes:
    """The same tone as AAC in an MP4 (M4A) container, a format libsndfile does not read."""
    import av

    tone = _tone(pitch_hertz, seconds, rate)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate, layout="mono")
        for start in range(0, len(tone), 1024):
            frame = av.AudioFrame.from_ndarray(
                tone[None, start : start + 1024], format="flt", layout="mono"
            )
            frame.rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["WAV", "FLAC", "OGG", "MP3"])
def test_speaker_samples_decode_to_mono_float_and_back_to_wav(kind):
    sample = decode_speaker_sample(encoded_voice(150, kind=kind))
    assert sample.sample_rate == 16000 and sample.duration_seconds == pytest.approx(4.0, abs=0.1)
    assert sample.samples.ndim == 1 and 0.1 < np.abs(sample.samples).max() <= 1.0
    with speaker_wav_file(sample) as path:
        decoded, rate = soundfile.read(path)
    assert rate == 16000 and len(decoded) == len(sample.samples)


def test_formats_libsndfile_cannot_read_are_decoded_by_ffmpeg():
    sample = decode_speaker_sample(encoded_aac(150))
    assert sample.sample_rate == 16000 and sample.duration_seconds == pytest.approx(4.0, abs=0.1)
    spectrum = np.abs(np.fft.rfft(sample.samples[:16000]))
    assert abs(np.argmax(spectrum) - 150) <= 2  # the tone came through: 1 Hz per bin


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"definitely not audio", "not WAV, MP3, OGG or FLAC"),
        (b"", "empty"),
        (encoded_voice(150, seconds=2.0), "lasts 2.0 s; send 3-30 s"),
        (encoded_voice(150, seconds=31.0, rate=8000, kind="OGG"), "lasts 31.0 s; send 3-30 s"),
        (encoded_voice(150, seconds=90.0, rate=8000, kind="MP3"), "lasts 90.0 s"),
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


def test_a_sample_sent_again_reuses_its_cloned_voice(engine):
    sample = encoded_voice(180, kind="MP3")
    hits, misses = engine.speaker_cache.hits, engine.speaker_cache.misses
    first, _ = _audio(engine, sample)
    assert (engine.speaker_cache.hits, engine.speaker_cache.misses) == (hits, misses + 1)
    again, _ = _audio(engine, sample)
    assert (engine.speaker_cache.hits, engine.speaker_cache.misses) == (hits + 1, misses + 1)
    assert np.array_equal(first, again)  # the cached voice is the same voice


def test_a_cloning_model_without_speakers_needs_a_sample(engine):
    with pytest.raises(SpeakerSampleRequiredError):
        engine.synthesize(TEXT, "clone")
    with pytest.raises(InvalidSpeakerSampleError):
        engine.synthesize(TEXT, "clone", b"not audio at all")
