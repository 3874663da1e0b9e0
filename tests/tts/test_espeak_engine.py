"""The espeak-ng engine: streaming, exact timings, languages, errors, thread safety."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from avatar_tts.engines.base import (
    CloningNotSupportedError,
    InvalidTextError,
    SynthesisChunk,
    UnknownVoiceError,
    VoiceUnavailableError,
)
from avatar_tts.engines.espeak import EspeakEngine

SAMPLE_RATE = 22050
ENGLISH = "Hi, how are you today?"
CROATIAN = "Dobar dan, kako ste danas?"


@pytest.fixture(scope="module")
def engine() -> EspeakEngine:
    engine = EspeakEngine()
    engine.load()
    return engine


def _speak(engine: EspeakEngine, text: str, voice: str = "en-us") -> list[SynthesisChunk]:
    return list(engine.synthesize(text, voice))


def _audio(chunks: list[SynthesisChunk]) -> np.ndarray:
    return np.concatenate([chunk.samples for chunk in chunks])


def _symbols(chunks: list[SynthesisChunk]) -> list[str]:
    return [p.symbol for chunk in chunks for p in chunk.phonemes]


def test_default_voices_load_and_report_22050_hz(engine):
    voices = {voice.name: voice for voice in engine.voices()}
    for name in ("en-us", "en-gb", "hr"):
        assert voices[name].available, voices[name].error
        assert voices[name].sample_rate == SAMPLE_RATE
        assert voices[name].has_timings and voices[name].supports_streaming


def test_unknown_espeak_voice_is_marked_unavailable_not_fatal():
    from avatar_tts.engines.espeak import EspeakVoiceSpec

    engine = EspeakEngine(
        [
            EspeakVoiceSpec("en-us", "en-us", "en-US", "English"),
            EspeakVoiceSpec("klingon", "tlh-nonexistent", "tlh", "none"),
        ]
    )
    engine.load()
    voices = {voice.name: voice for voice in engine.voices()}
    assert voices["en-us"].available
    assert not voices["klingon"].available and "tlh-nonexistent" in voices["klingon"].error
    assert _audio(_speak(engine, "Still fine.")).size > 0


def test_a_library_that_cannot_load_leaves_the_voices_unavailable(tmp_path):
    engine = EspeakEngine(library_path=str(tmp_path / "libnothing.so"), data_path=str(tmp_path))
    engine.load()
    assert all(not voice.available and voice.error for voice in engine.voices())
    with pytest.raises(VoiceUnavailableError):
        engine.synthesize("Hello.", "en-us")


def test_first_chunk_is_short_and_audio_is_int16_speech(engine):
    chunks = _speak(engine, "This sentence is long enough to need several chunks of audio.")
    assert len(chunks) > 2
    assert 0 < len(chunks[0].samples) <= 0.2 * SAMPLE_RATE
    audio = _audio(chunks)
    assert audio.dtype == np.int16
    assert np.abs(audio).max() > 1000  # real speech, not silence


def test_first_chunk_leaves_before_synthesis_finishes(engine):
    text = " ".join(["The quick brown fox jumps over the lazy dog."] * 30)
    started = time.perf_counter()
    stream = engine.synthesize(text, "en-us")
    first = next(stream)
    time_to_first = time.perf_counter() - started
    rest = list(stream)
    total = time.perf_counter() - started
    assert len(first.samples) <= 0.2 * SAMPLE_RATE
    assert sum(len(c.samples) for c in rest) > 60 * SAMPLE_RATE
    assert time_to_first < total / 3


def test_phonemes_are_contiguous_and_end_with_the_audio(engine):
    chunks = _speak(engine, ENGLISH)
    phonemes = [p for chunk in chunks for p in chunk.phonemes]
    duration = len(_audio(chunks)) / SAMPLE_RATE
    assert phonemes[0].start_seconds == 0.0
    for before, after in zip(phonemes, phonemes[1:], strict=False):
        assert before.end_seconds == pytest.approx(after.start_seconds)
        assert after.end_seconds > after.start_seconds
    assert abs(phonemes[-1].end_seconds - duration) < 0.001
    assert any(p.stressed for p in phonemes)
    assert "aɪ" in _symbols(chunks) and "_" in _symbols(chunks)


def test_timings_never_run_ahead_of_the_audio_sent(engine):
    sent = 0
    for chunk in engine.synthesize("One two three four five six seven eight nine ten.", "en-us"):
        sent += len(chunk.samples)
        for item in (*chunk.phonemes, *chunk.words):
            assert item.end_seconds <= sent / SAMPLE_RATE + 1e-9


def test_words_are_timed_in_order_within_their_phonemes(engine):
    chunks = _speak(engine, "Hello there, don't worry about 23 cats.")
    words = [w for chunk in chunks for w in chunk.words]
    assert [w.text for w in words] == ["Hello", "there", "don't", "worry", "about", "23", "cats"]
    for before, after in zip(words, words[1:], strict=False):
        assert before.start_seconds < before.end_seconds <= after.start_seconds
    assert words[-1].end_seconds <= len(_audio(chunks)) / SAMPLE_RATE


def test_croatian_sounds_croatian(engine):
    croatian = _symbols(_speak(engine, CROATIAN, "hr"))
    english = _symbols(_speak(engine, CROATIAN, "en-us"))
    assert croatian != english
    assert "r" in croatian and "ɹ" not in croatian  # trilled r
    assert "o" in croatian and "oʊ" in english  # pure vowel against an English diphthong
    assert {"tɕ", "dʑ"} <= set(_symbols(_speak(engine, "Ćevapi i đuveč.", "hr")))


def test_synthesis_is_hundreds_of_times_faster_than_real_time(engine):
    text = "The avatar speaks this paragraph while the animator draws the face. " * 10
    started = time.perf_counter()
    audio = _audio(_speak(engine, text))
    elapsed = time.perf_counter() - started
    real_time_factor = elapsed / (len(audio) / SAMPLE_RATE)
    assert real_time_factor < 0.05, real_time_factor


def test_concurrent_requests_do_not_mix(engine):
    jobs = [(ENGLISH, "en-us"), (CROATIAN, "hr")] * 3
    expected = {text: _speak(engine, text, voice) for text, voice in jobs[:2]}
    results: dict[int, list[SynthesisChunk]] = {}

    def worker(index: int, text: str, voice: str) -> None:
        results[index] = _speak(engine, text, voice)

    threads = [threading.Thread(target=worker, args=(i, *job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, (text, _) in enumerate(jobs):
        # espeak-ng's glottal phase carries over between utterances, so lengths vary by a
        # few pitch periods; the phonemes must match exactly.
        assert _symbols(results[index]) == _symbols(expected[text])
        expected_length = len(_audio(expected[text]))
        assert abs(len(_audio(results[index])) - expected_length) < 0.02 * SAMPLE_RATE


def test_closing_a_stream_early_frees_the_engine(engine):
    stream = engine.synthesize(" ".join(["A long sentence to abandon."] * 50), "en-us")
    next(stream)
    stream.close()
    assert _audio(_speak(engine, ENGLISH)).size > 0


@pytest.mark.parametrize(
    ("text", "voice", "sample", "error"),
    [
        ("Hello.", "xx-nope", None, UnknownVoiceError),
        ("   ", "en-us", None, InvalidTextError),
        ("Hello.", "en-us", b"RIFF....WAVE", CloningNotSupportedError),
    ],
)
def test_bad_requests_raise_typed_errors_at_once(engine, text, voice, sample, error):
    with pytest.raises(error):
        engine.synthesize(text, voice, sample)


def test_unknown_voice_error_names_the_available_voices(engine):
    with pytest.raises(UnknownVoiceError) as caught:
        engine.synthesize("Hello.", "xx-nope")
    assert "en-us" in caught.value.available and "en-us" in str(caught.value)
