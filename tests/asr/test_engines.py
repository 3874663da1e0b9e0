"""The asr service's pure parts: PCM, resampling, voice activity, end-pointing, settings."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly

from avatar_asr.audio import AudioFormatError, StreamResampler, check_sample_rate, pcm_to_float
from avatar_asr.config import AsrConfig
from avatar_asr.endpointing import Endpointer, EndpointSettings, EndReason, SpeechEnd, SpeechStart
from avatar_asr.session import RecognitionSession, SessionSettings, Utterance
from avatar_asr.vad import VoiceActivityModel
from avatar_core.config import ConfigError
from tests.asr.speech import word_error_rate


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 24000, 44100, 48000, 96000, 16000])
def test_resampling_in_pieces_equals_resampling_at_once(rate):
    rng = np.random.default_rng(rate)
    signal = (0.3 * rng.standard_normal(2 * rate)).astype(np.float32)
    resampler = StreamResampler(rate)
    pieces, start = [], 0
    while start < len(signal):
        size = int(rng.integers(1, 3000))
        pieces.append(resampler.process(signal[start : start + size]))
        start += size
    pieces.append(resampler.flush())
    streamed = np.concatenate(pieces)
    whole = signal if rate == 16000 else resample_poly(signal, resampler.up, resampler.down)
    assert len(streamed) == len(whole) == 32000
    np.testing.assert_allclose(streamed, whole, atol=1e-5)


def test_a_tone_keeps_its_pitch_and_level_through_the_resampler():
    rate = 44100
    times = np.arange(rate) / rate
    tone = (0.5 * np.sin(2 * np.pi * 440 * times)).astype(np.float32)
    resampler = StreamResampler(rate)
    out = np.concatenate([resampler.process(tone), resampler.flush()])
    spectrum = np.abs(np.fft.rfft(out[1000:-1000]))
    peak = np.argmax(spectrum) * 16000 / len(out[1000:-1000])
    assert peak == pytest.approx(440, abs=2)
    assert np.abs(out[1000:-1000]).max() == pytest.approx(0.5, abs=0.01)


def test_pcm_and_rates():
    assert pcm_to_float(np.array([0, 16384, -32768], "<i2").tobytes()).tolist() == [0, 0.5, -1]
    with pytest.raises(AudioFormatError, match="odd number of bytes"):
        pcm_to_float(b"\x00")
    for bad, message in ((0, "required"), (7999, "got 7999"), (96001, "got 96001")):
        with pytest.raises(AudioFormatError, match=message):
            check_sample_rate(bad)
    check_sample_rate(8000)
    check_sample_rate(96000)


def test_voice_activity_in_pieces_equals_the_whole_audio_at_once():
    model = VoiceActivityModel()
    rng = np.random.default_rng(3)
    times = np.arange(3 * 16000) / 16000
    # A voice-like buzz (harmonics of 150 Hz, syllable-rate envelope) between silences.
    buzz = sum(np.sin(2 * np.pi * 150 * k * times) / k for k in range(1, 12))
    audio = 0.2 * buzz * (np.sin(2 * np.pi * 4 * times) > 0) * (times > 1) * (times < 2)
    audio = audio.astype(np.float32)
    whole = model.stream().process(audio)
    stream, pieces, start = model.stream(), [], 0
    while start < len(audio):
        size = int(rng.integers(1, 2000))
        pieces.append(stream.process(audio[start : start + size]))
        start += size
    assert len(whole) == len(audio) // 512
    np.testing.assert_allclose(np.concatenate(pieces), whole, atol=1e-5)
    assert whole[:20].max() < 0.5


def _run(settings: EndpointSettings, probabilities: list[float]) -> list:
    endpointer = Endpointer(settings)
    boundaries = [b for p in probabilities for b in endpointer.push(p)]
    return boundaries + endpointer.finish()


def test_end_pointing_needs_two_speech_windows_and_the_configured_silence():
    settings = EndpointSettings(threshold=0.5, end_of_speech_seconds=0.1)  # 4 windows
    assert settings.silence_windows == 4
    # A single loud window is a click; then speech, a short pause, speech, silence.
    probabilities = [0, 0.9, 0, 0.8, 0.9, 0.9, 0.1, 0.1, 0.9, 0.9, 0, 0, 0, 0, 0]
    assert _run(settings, probabilities) == [
        SpeechStart(3),
        SpeechEnd(10, EndReason.SILENCE),
    ]


def test_probabilities_between_the_thresholds_neither_start_nor_end_silence():
    settings = EndpointSettings(threshold=0.5, end_of_speech_seconds=0.064)  # 2 windows
    probabilities = [0.9, 0.9, 0.4, 0.4, 0.4, 0.2, 0.2, 0.0]
    assert _run(settings, probabilities) == [SpeechStart(0), SpeechEnd(5, EndReason.SILENCE)]


def test_long_speech_is_cut_at_the_limit_and_goes_on_as_the_next_utterance():
    settings = EndpointSettings(end_of_speech_seconds=0.1, max_utterance_seconds=1.0)
    assert settings.max_windows == 31
    boundaries = _run(settings, [0.9] * 40)
    assert boundaries == [
        SpeechStart(0),
        SpeechEnd(31, EndReason.MAX_LENGTH),
        SpeechStart(31),
        SpeechEnd(40, EndReason.END_OF_INPUT),
    ]


def test_config_reads_its_variables_and_names_a_bad_one(tmp_path):
    config = AsrConfig.from_env({})
    assert (config.server.port, config.server.metrics_port) == (50056, 9056)
    assert (config.beam_size, config.threads, config.compute_type) == (2, 2, "int8")
    assert config.end_of_speech_ms == 300 and config.default_language == "en"
    tuned = AsrConfig.from_env({"AVATAR_ASR_BEAM_SIZE": "1", "AVATAR_ASR_LANGUAGE": "HR"})
    assert (tuned.beam_size, tuned.default_language) == (1, "hr")
    assert config.window_padding_seconds == 10.0
    full = AsrConfig.from_env({"AVATAR_ASR_WINDOW_PADDING_SECONDS": "30"})
    assert full.window_padding_seconds == 30.0
    with pytest.raises(ConfigError, match="AVATAR_ASR_WINDOW_PADDING_SECONDS=2.0 is below"):
        AsrConfig.from_env({"AVATAR_ASR_WINDOW_PADDING_SECONDS": "2"})
    with pytest.raises(ConfigError, match="AVATAR_ASR_END_OF_SPEECH_MS=50 is below"):
        AsrConfig.from_env({"AVATAR_ASR_END_OF_SPEECH_MS": "50"})
    with pytest.raises(ConfigError, match=r"AVATAR_ASR_MODEL=.*\(no model.bin in it\)"):
        AsrConfig.from_env({"AVATAR_ASR_MODEL": str(tmp_path)})
    with pytest.raises(ConfigError, match="AVATAR_ASR_DEVICE='tpu'"):
        AsrConfig.from_env({"AVATAR_ASR_DEVICE": "tpu"})


def test_wer_counts_substitutions_insertions_and_deletions():
    assert word_error_rate("the cat sat", "The cat sat.") == 0
    assert word_error_rate("the cat sat", "the hat sat") == pytest.approx(1 / 3)
    assert word_error_rate("the cat sat", "the cat") == pytest.approx(1 / 3)
    assert word_error_rate("the cat sat", "oh the cat sat down") == pytest.approx(2 / 3)


@pytest.fixture(scope="module")
def spoken() -> tuple[np.ndarray, int]:
    """A sentence from the tts default voice (its engine in this process, no server)."""
    from avatar_tts.config import TtsConfig
    from avatar_tts.voices import build_registry

    registry = build_registry(TtsConfig.from_env({}))
    registry.load()
    info = registry.resolve("")
    chunks = registry.synthesize("Rice is often served in round bowls, they said.", info.name)
    return np.concatenate([chunk.samples for chunk in chunks]).astype(np.int16), info.sample_rate


def test_speech_longer_than_the_limit_becomes_back_to_back_utterances(spoken):
    samples, rate = spoken
    endpoint = EndpointSettings(max_utterance_seconds=1.0)
    session = RecognitionSession(VoiceActivityModel(), SessionSettings(rate, endpoint))
    pcm = np.concatenate([np.zeros(rate // 2, np.int16), samples]).astype("<i2").tobytes()
    happened = []
    for offset in range(0, len(pcm), 960):
        happened += session.add_audio(pcm[offset : offset + 960], offset // 2)
    happened += session.finish()
    utterances = [event for event in happened if isinstance(event, Utterance)]
    assert len(utterances) >= 2
    for before, after in zip(utterances, utterances[1:], strict=False):
        if before.reason is EndReason.MAX_LENGTH:
            assert after.start_seconds == pytest.approx(before.end_seconds)
    assert all(u.end_seconds - u.start_seconds <= 1.0 + 1e-9 for u in utterances)
    assert EndReason.MAX_LENGTH in {u.reason for u in utterances}
    for utterance in utterances:
        # Its audio covers the speech and up to 0.2 s either side, at 16 kHz.
        assert utterance.audio_start_seconds <= utterance.start_seconds
        covered = utterance.audio_start_seconds + len(utterance.audio) / 16000
        assert covered >= utterance.end_seconds - 1e-3


def test_an_early_final_has_the_audio_the_final_will_have(spoken):
    samples, rate = spoken
    settings = SessionSettings(rate, EndpointSettings(end_of_speech_seconds=0.5))
    session = RecognitionSession(VoiceActivityModel(), settings)
    pcm = np.concatenate([samples, np.zeros(rate, np.int16)]).astype("<i2").tobytes()
    happened = []
    for offset in range(0, len(pcm), 960):
        happened += session.add_audio(pcm[offset : offset + 960], offset // 2)
    utterances = [event for event in happened if isinstance(event, Utterance)]
    early, final = utterances[-2], utterances[-1]
    assert early.early and not early.final and final.final
    assert (early.start_seconds, early.end_seconds) == (final.start_seconds, final.end_seconds)
    np.testing.assert_array_equal(early.audio, final.audio)
    assert early.audio_start_seconds == final.audio_start_seconds


def test_no_partial_is_due_while_a_silence_may_be_ending_the_utterance(spoken):
    samples, rate = spoken
    settings = SessionSettings(
        rate,
        EndpointSettings(end_of_speech_seconds=1.0),
        interim_results=True,
        partial_interval_seconds=0.2,
    )
    session = RecognitionSession(VoiceActivityModel(), settings)
    pcm = np.concatenate([samples, np.zeros(2 * rate, np.int16)]).astype("<i2").tobytes()
    happened = []
    for offset in range(0, len(pcm), 960):
        happened += session.add_audio(pcm[offset : offset + 960], offset // 2)
    utterances = [event for event in happened if isinstance(event, Utterance)]
    final = utterances[-1]
    partials = [u for u in utterances if not u.final and not u.early]
    assert final.final and len(partials) >= 3
    # None in the second of silence before the final: each covers speech up to its end.
    assert all(partial.end_seconds <= final.end_seconds for partial in partials)


@pytest.fixture(scope="module")
def recognizer():
    from avatar_asr.recognizer import WhisperRecognizer

    model = WhisperRecognizer()
    model.load()
    return model


def test_an_utterance_in_a_short_window_reads_as_in_whisper_s_full_window(spoken, recognizer):
    from avatar_asr.recognizer import WhisperRecognizer

    samples, rate = spoken
    audio = np.concatenate([np.zeros(rate // 5), samples / 32768, np.zeros(rate // 5)])
    audio = resample_poly(audio, 2, 3).astype(np.float32)  # 24 kHz -> 16 kHz
    assert rate == 24000
    full = WhisperRecognizer(window_padding_seconds=30.0)
    full.load()
    short, whole = recognizer.transcribe(audio, "en", 2.0), full.transcribe(audio, "en", 2.0)
    assert short.text == whole.text
    assert word_error_rate("Rice is often served in round bowls, they said.", short.text) <= 0.1
    # Marks belong to the word they close, and the words are timed inside the audio in order.
    assert "bowls," in [word.text for word in short.words]
    assert short.text == " ".join(word.text for word in short.words)
    assert all(any(char.isalnum() for char in word.text) for word in short.words)
    ends = 2.0 + len(audio) / 16000
    times = [t for word in short.words for t in (word.start_seconds, word.end_seconds)]
    assert times == sorted(times) and times[0] >= 2.0 and times[-1] <= ends


def test_noise_without_speech_gives_no_words(recognizer):
    noise = np.random.default_rng(5).normal(0, 0.003, 16000 * 2).astype(np.float32)
    assert recognizer.transcribe(noise, "en", 0.0).words == ()
