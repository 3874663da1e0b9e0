"""tts configuration from the environment: coqui voice list grammar, defaults, validation."""

from __future__ import annotations

import pytest

from avatar_core.config import ConfigError
from avatar_tts.config import (
    COQUI_PRESETS,
    TtsConfig,
    parse_coqui_voices,
    parse_espeak_voices,
)


def test_defaults_need_no_variables():
    config = TtsConfig.from_env({})
    assert config.server.port == 50053 and config.server.metrics_port == 9053
    assert config.default_voice == "heart"  # the neural voice inside the hibari-tts wheel
    assert [spec.name for spec in config.hibari_voices] == ["heart"]
    assert [spec.name for spec in config.piper_voices] == ["joe"]
    assert config.max_text_chars == 2000
    assert config.coqui_voices == ()
    assert {"en-us", "en-gb", "hr"} <= {spec.name for spec in config.espeak_voices}


def test_coqui_voices_by_preset_model_name_and_local_path():
    specs = parse_coqui_voices(
        "glow-tts; thesis=tts_models/en/ljspeech/glow-tts ;"
        "mine=/m/model.pth|/m/config.json|language=hr|speaker=ana"
    )
    assert [spec.name for spec in specs] == ["glow-tts", "thesis", "mine"]
    assert specs[0] == COQUI_PRESETS["glow-tts"]
    assert specs[1].model == "tts_models/en/ljspeech/glow-tts" and specs[1].is_model_name
    assert specs[1].bcp47_language == "en"
    mine = specs[2]
    assert (mine.model, mine.config_path, mine.language, mine.speaker) == (
        "/m/model.pth",
        "/m/config.json",
        "hr",
        "ana",
    )
    assert not mine.is_model_name


def test_a_preset_name_pointed_at_a_local_checkpoint_keeps_its_language():
    (spec,) = parse_coqui_voices("hr-vits=/ckpt/best.pth|/ckpt/config.json")
    assert spec.model == "/ckpt/best.pth" and spec.language == "hr"


def test_presets_appear_only_when_configured():
    assert TtsConfig.from_env({}).coqui_voices == ()
    config = TtsConfig.from_env({"AVATAR_TTS_COQUI_VOICES": "your-tts;xtts-v2"})
    assert [spec.name for spec in config.coqui_voices] == ["your-tts", "xtts-v2"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("nonexistent-preset", "not a preset"),
        ("a=x;a=y", "listed twice"),
        ("bad name=x", "not a valid voice name"),
        ("v=/m.pth|/c.json|colour=red", "not an option"),
        ("v=", "not a preset"),
        ("en-us=tts_models/en/ljspeech/glow-tts", "already an espeak voice"),
    ],
)
def test_bad_coqui_voice_lists_fail_naming_the_variable(value, message):
    with pytest.raises(ConfigError, match=message) as caught:
        TtsConfig.from_env({"AVATAR_TTS_COQUI_VOICES": value})
    assert "AVATAR_TTS_COQUI_VOICES" in str(caught.value)


def test_default_voice_must_be_configured():
    with pytest.raises(ConfigError, match="AVATAR_TTS_DEFAULT_VOICE"):
        TtsConfig.from_env({"AVATAR_TTS_DEFAULT_VOICE": "glow-tts"})
    config = TtsConfig.from_env(
        {"AVATAR_TTS_DEFAULT_VOICE": "glow-tts", "AVATAR_TTS_COQUI_VOICES": "glow-tts"}
    )
    assert config.default_voice == "glow-tts"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AVATAR_TTS_MAX_TEXT_CHARS", "0"),
        ("AVATAR_TTS_COQUI_DEVICE", "tpu"),
        ("AVATAR_TTS_FIRST_CHUNK_SECONDS", "0.5"),
        ("AVATAR_TTS_ESPEAK_RATE", "fast"),
    ],
)
def test_out_of_range_settings_fail_fast(variable, value):
    with pytest.raises(ConfigError, match=variable):
        TtsConfig.from_env({variable: value})


def test_espeak_voices_can_be_chosen():
    specs = parse_espeak_voices("en-gb, sr, polish=pl")
    assert [(s.name, s.espeak_voice, s.language) for s in specs] == [
        ("en-gb", "en", "en-GB"),
        ("sr", "sr", "sr"),
        ("polish", "pl", "pl"),
    ]
    config = TtsConfig.from_env(
        {"AVATAR_TTS_ESPEAK_VOICES": "hr,de", "AVATAR_TTS_DEFAULT_VOICE": "hr"}
    )
    assert [spec.name for spec in config.espeak_voices] == ["hr", "de"]
    with pytest.raises(ConfigError, match="AVATAR_TTS_DEFAULT_VOICE='en-us'"):
        # Without the neural voice the default is espeak-ng's en-us, which is not listed.
        TtsConfig.from_env({"AVATAR_TTS_ESPEAK_VOICES": "hr", "AVATAR_TTS_HIBARI_VOICES": ""})
    with pytest.raises(ConfigError, match="listed twice"):
        parse_espeak_voices("hr,hr")


def test_text_normalisation_and_speaker_sample_settings():
    config = TtsConfig.from_env(
        {
            "AVATAR_TTS_NORMALIZE_TEXT": "false",
            "AVATAR_TTS_MAX_SPEAKER_SAMPLE_BYTES": "100000",
            "AVATAR_TTS_SPEAKER_CACHE_SIZE": "8",
        }
    )
    assert not config.normalize_text
    assert (config.max_speaker_sample_bytes, config.speaker_cache_size) == (100_000, 8)
    assert TtsConfig.from_env({}).normalize_text


def test_speaker_samples_must_fit_in_a_message():
    with pytest.raises(ConfigError, match="AVATAR_TTS_MAX_SPEAKER_SAMPLE_BYTES=.*message limit"):
        TtsConfig.from_env(
            {
                "AVATAR_TTS_MAX_MESSAGE_BYTES": str(1 << 20),
                "AVATAR_TTS_MAX_SPEAKER_SAMPLE_BYTES": str(2 << 20),
            }
        )
