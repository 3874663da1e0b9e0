"""The coqui engine with tiny GlowTTS checkpoints: by local path and by coqui model name."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("TTS", reason="coqui-tts (the 'coqui' extra) is not installed")

from avatar_devtools.tiny_glowtts import (
    GLOW_TTS_MODEL_NAME,
    build_tiny_glowtts,
    install_as_downloaded,
)
from avatar_tts.engines.base import (
    CloningNotSupportedError,
    SynthesisChunk,
    VoiceUnavailableError,
)
from avatar_tts.engines.coqui import CoquiEngine
from avatar_tts.engines.coqui_models import CoquiVoiceSpec

pytestmark = pytest.mark.coqui
TEXT = "Hello world, how are you today?"


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> CoquiEngine:
    root = tmp_path_factory.mktemp("coqui")
    local = build_tiny_glowtts(root / "local", seed=1)
    install_as_downloaded(root / "models", seed=2)
    engine = CoquiEngine(
        [
            CoquiVoiceSpec("local", str(local.checkpoint_path), str(local.config_path)),
            CoquiVoiceSpec("local-again", str(local.checkpoint_path), language="en-US"),
            CoquiVoiceSpec("thesis", GLOW_TTS_MODEL_NAME, language="en-US"),
            CoquiVoiceSpec("missing", str(root / "nowhere" / "model.pth")),
            CoquiVoiceSpec("not-a-model", "tts_models/xx/none/nothing"),
        ],
        device="cpu",
        models_dir=str(root / "models"),
    )
    engine.load()
    return engine


def _voices(engine: CoquiEngine) -> dict:
    return {voice.name: voice for voice in engine.voices()}


def _check_speech_with_timings(chunks: list[SynthesisChunk], sample_rate: int, text: str) -> None:
    audio = np.concatenate([chunk.samples for chunk in chunks])
    duration = len(audio) / sample_rate
    assert audio.dtype == np.int16 and duration > 0.5 and np.abs(audio).max() > 0
    assert 0 < len(chunks[0].samples) <= 0.2 * sample_rate
    phonemes = [p for chunk in chunks for p in chunk.phonemes]
    assert phonemes[0].start_seconds == 0.0
    for before, after in zip(phonemes, phonemes[1:], strict=False):
        assert before.end_seconds == pytest.approx(after.start_seconds)
        assert after.end_seconds > after.start_seconds
    assert abs(phonemes[-1].end_seconds - duration) < 0.05
    # A character model: one phoneme per letter plus pauses for punctuation.
    letters = sum(c.isalpha() for c in text)
    assert sum(p.symbol != "_" for p in phonemes) == letters
    words = [w for chunk in chunks for w in chunk.words]
    assert [w.text for w in words] == text.replace(",", "").replace("?", "").split()


def test_local_checkpoint_speaks_with_timings_from_its_durations(engine):
    voice = _voices(engine)["local"]
    assert voice.available and voice.has_timings and voice.sample_rate == 22050
    assert voice.language == "en"  # from the checkpoint's config
    _check_speech_with_timings(list(engine.synthesize(TEXT, "local")), 22050, TEXT)


def test_model_name_loads_the_downloaded_model_with_its_default_vocoder(engine):
    voice = _voices(engine)["thesis"]
    assert voice.available, voice.error
    assert voice.description == GLOW_TTS_MODEL_NAME and voice.language == "en-US"
    _check_speech_with_timings(list(engine.synthesize(TEXT, "thesis")), 22050, TEXT)


def test_voices_naming_one_checkpoint_share_the_loaded_model(engine):
    models = engine._voice_models
    assert models["local"].synthesizer is models["local-again"].synthesizer
    assert models["local"].lock is models["local-again"].lock
    assert models["local"].synthesizer is not models["thesis"].synthesizer
    assert _voices(engine)["local-again"].language == "en-US"


def test_durations_follow_the_text(engine):
    short = np.concatenate([c.samples for c in engine.synthesize("Hi.", "local")])
    long = np.concatenate([c.samples for c in engine.synthesize(TEXT * 2, "local")])
    assert len(long) > 4 * len(short)


def test_failed_models_are_unavailable_with_their_error_and_others_still_work(engine):
    voices = _voices(engine)
    assert not voices["missing"].available and "not found" in voices["missing"].error
    assert not voices["not-a-model"].available
    assert "not a coqui model name" in voices["not-a-model"].error
    with pytest.raises(VoiceUnavailableError, match="not found"):
        engine.synthesize(TEXT, "missing")
    assert next(engine.synthesize("Still here.", "local")).samples.size > 0


def test_speaker_sample_needs_a_cloning_model(engine):
    assert not _voices(engine)["local"].supports_cloning
    with pytest.raises(CloningNotSupportedError):
        engine.synthesize(TEXT, "local", speaker_sample=b"RIFF0000WAVEfmt ")


@pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="coqui's phonemizer runs the espeak-ng program"
)
def test_phoneme_model_gives_ipa_timings_with_stress(tmp_path):
    checkpoint = build_tiny_glowtts(tmp_path, phoneme_language="en-us")
    engine = CoquiEngine([CoquiVoiceSpec("ipa", str(checkpoint.checkpoint_path))], device="cpu")
    engine.load()
    assert engine.voices()[0].available, engine.voices()[0].error
    chunks = list(engine.synthesize(TEXT, "ipa"))
    phonemes = [p for chunk in chunks for p in chunk.phonemes]
    symbols = [p.symbol for p in phonemes]
    assert {"oʊ", "aʊ", "eɪ", "ɹ", "ə"} <= set(symbols)  # IPA, diphthongs joined
    assert {"oʊ", "eɪ"} <= {p.symbol for p in phonemes if p.stressed}
    duration = sum(len(chunk.samples) for chunk in chunks) / 22050
    assert abs(phonemes[-1].end_seconds - duration) < 0.05
    assert [w.text for chunk in chunks for w in chunk.words] == [
        "Hello",
        "world",
        "how",
        "are",
        "you",
        "today",
    ]
