"""The hibari engine with the real "heart" weights inside the hibari-tts wheel."""

from __future__ import annotations

import numpy as np
import pytest

from avatar_tts.engines.base import (
    CloningNotSupportedError,
    UnknownVoiceError,
    VoiceUnavailableError,
)
from avatar_tts.engines.hibari import KOKORO_TO_IPA, SAMPLE_RATE, HibariEngine, HibariVoiceSpec
from avatar_tts.engines.neural import sentence_pieces
from tests.tts.neural_voices import hibari_model_path, joe_model_path

DEMO = "Hi, how are you today?"
BILABIAL_TEXT = "Maybe Bob can pop by the lab on Monday, and bring a map."
LONG = (
    "The serene lake reflected the colors of the sunset like a painter's masterpiece, while "
    "the children, tired but happy, walked slowly home along the winding road."
)


@pytest.fixture(scope="module")
def engine() -> HibariEngine:
    engine = HibariEngine([HibariVoiceSpec("heart")])
    engine.load()
    return engine


def _speak(engine, text):
    chunks = list(engine.synthesize(text, "heart"))
    samples = np.concatenate([chunk.samples for chunk in chunks])
    phonemes = [p for chunk in chunks for p in chunk.phonemes]
    words = [w for chunk in chunks for w in chunk.words]
    return chunks, samples, phonemes, words


def test_heart_loads_and_speaks_english_at_24_khz(engine):
    (voice,) = engine.voices()
    assert (voice.name, voice.engine, voice.language) == ("heart", "hibari", "en-US")
    assert voice.available and voice.has_timings and voice.sample_rate == SAMPLE_RATE
    _, samples, _, words = _speak(engine, DEMO)
    assert 1.0 < len(samples) / SAMPLE_RATE < 3.0
    assert np.abs(samples).max() > 3000  # real speech, not silence
    assert [w.text for w in words] == ["Hi", "how", "are", "you", "today"]


@pytest.mark.parametrize("text", [DEMO, BILABIAL_TEXT, LONG, "She sells sea shells. Yes!"])
def test_timings_are_contiguous_and_end_with_the_audio(engine, text):
    _, samples, phonemes, words = _speak(engine, text)
    assert phonemes[0].start_seconds == 0.0
    for before, after in zip(phonemes, phonemes[1:], strict=False):
        assert after.start_seconds == pytest.approx(before.end_seconds, abs=1e-9)
        assert after.end_seconds > after.start_seconds
    assert phonemes[-1].end_seconds == pytest.approx(len(samples) / SAMPLE_RATE, abs=1e-6)
    assert all(w.start_seconds < w.end_seconds <= phonemes[-1].end_seconds for w in words)


def test_the_duration_node_sums_to_the_audio():
    from hibari import dsp

    from avatar_tts.engines.onnx_graph import inference_session, read_model, with_extra_outputs

    model = with_extra_outputs(read_model(hibari_model_path()), ["/Clip_output_0"])
    session = inference_session(model, 1, "heart")
    ids = np.asarray([[0, 50, 83, 54, 156, 31, 16, 81, 156, 86, 123, 4, 0]], np.int64)
    *spectra, units = session.run(None, {"ids": ids, "speed": np.ones(1, np.float32)})
    wave = dsp.synth(*(s[0] for s in spectra), np.random.default_rng(0))
    assert len(units) == ids.shape[1]
    assert 600 * units.sum() == len(wave)


def test_phonemes_are_plain_ipa_and_lips_have_their_bilabials(engine):
    _, _, phonemes, _ = _speak(engine, BILABIAL_TEXT)
    symbols = [p.symbol for p in phonemes]
    assert not set("".join(symbols)) & set(KOKORO_TO_IPA)  # no Kokoro capitals or ligatures
    assert symbols.count("b") >= 5 and symbols.count("p") >= 2 and symbols.count("m") >= 3
    assert "eɪ" in symbols and "aɪ" in symbols  # Kokoro's A and I, spelled in IPA


def test_pauses_are_silent_and_vowels_are_loud(engine):
    _, samples, phonemes, _ = _speak(engine, "No, I said yes, and then, maybe, we all agreed.")
    audio = samples.astype(np.float64)

    def level(phoneme):
        span = audio[
            round(phoneme.start_seconds * SAMPLE_RATE) : round(phoneme.end_seconds * SAMPLE_RATE)
        ]
        return float(np.sqrt(np.mean(span**2)))

    vowels = [level(p) for p in phonemes if p.symbol[0] in "aeiouɑæʌəɛɪʊɔ"]
    pauses = [
        level(p) for p in phonemes if p.symbol == "_" and p.end_seconds - p.start_seconds > 0.02
    ]
    assert len(pauses) >= 4
    assert max(pauses) < 0.1 * float(np.median(vowels))


def test_a_long_first_sentence_starts_with_a_short_piece():
    phonemes = (
        "ðə səɹˈin lˈAk ɹəflˈɛktᵻd ðə kˈʌləɹz, wˌIl ðə ʧˈɪldɹᵊn, tˈIəɹd bˌʌt hˈæpi, wˈɔkt hˈOm."
    )
    first, *rest = sentence_pieces(phonemes, first=True)
    assert first == "ðə səɹˈin lˈAk ɹəflˈɛktᵻd ðə kˈʌləɹz,"
    assert " ".join([first, *rest]) == phonemes
    assert sentence_pieces(phonemes, first=False) == [phonemes]  # later sentences stay whole
    assert sentence_pieces("hˈI, hˌW ɑɹ ju?", first=True) == ["hˈI, hˌW ɑɹ ju?"]


def test_chunks_are_short_first_then_larger_and_never_time_ahead_of_the_audio(engine):
    chunks, _, _, _ = _speak(engine, LONG)
    sizes = [len(chunk.samples) for chunk in chunks if len(chunk.samples)]
    assert sizes[0] <= 0.1 * SAMPLE_RATE and max(sizes) <= 0.5 * SAMPLE_RATE
    sent = 0
    for chunk in chunks:
        sent += len(chunk.samples)
        for item in (*chunk.phonemes, *chunk.words):
            assert item.end_seconds <= sent / SAMPLE_RATE + 1e-9


def test_the_same_text_gives_the_same_audio(engine):
    assert np.array_equal(_speak(engine, DEMO)[1], _speak(engine, DEMO)[1])


def test_requests_are_checked_at_once(engine):
    with pytest.raises(UnknownVoiceError, match="available voices: heart"):
        engine.synthesize(DEMO, "nope")
    with pytest.raises(CloningNotSupportedError):
        engine.synthesize(DEMO, "heart", speaker_sample=b"RIFF")


def test_bad_voices_are_unavailable_with_why_and_the_good_one_speaks(tmp_path, monkeypatch):
    monkeypatch.setenv("HIBARI_HOME", str(tmp_path / "empty-cache"))
    truncated = tmp_path / "cut.onnx"
    truncated.write_bytes(hibari_model_path().read_bytes()[:100_000])
    engine = HibariEngine(
        [
            HibariVoiceSpec("heart"),
            HibariVoiceSpec("cut", model_path=str(truncated)),
            HibariVoiceSpec("gone", model_path=str(tmp_path / "gone.onnx")),
            HibariVoiceSpec("piper-file", model_path=str(joe_model_path())),
            HibariVoiceSpec("emma", "emma"),
            HibariVoiceSpec("nope", "nope"),
        ]
    )
    engine.load()
    errors = {voice.name: voice.error for voice in engine.voices() if not voice.available}
    assert set(errors) == {"cut", "gone", "piper-file", "emma", "nope"}
    assert f"{truncated} is not a usable ONNX model" in errors["cut"]
    assert f"cannot read {tmp_path / 'gone.onnx'}" in errors["gone"]
    assert "no duration node (Round -> Clip): not a hibari model" in errors["piper-file"]
    assert "never downloads" in errors["emma"]
    assert "hibari has no voice 'nope'" in errors["nope"]
    with pytest.raises(VoiceUnavailableError, match="voice 'cut' is unavailable"):
        engine.synthesize(DEMO, "cut")
    assert len(_speak(engine, DEMO)[1]) > SAMPLE_RATE
