"""Builds tiny, randomly initialised coqui GlowTTS checkpoints (and a tiny vocoder) for tests.

Real models cannot be downloaded in tests, so these stand in for them: the same classes, the
same checkpoint and ``config.json`` files coqui writes when training, only with hidden sizes
small enough to load and run in well under a second on a CPU. The voice is noise, but the
durations, alignments and audio lengths behave like a real model's.

Text goes in as characters, so no phonemizer executable is needed.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

GLOW_TTS_MODEL_NAME = "tts_models/en/ljspeech/glow-tts"
"""The thesis's model name; :func:`install_as_downloaded` puts a tiny model under it."""
MULTIBAND_MELGAN_NAME = "vocoder_models/en/ljspeech/multiband-melgan"
"""The default vocoder coqui pairs with the glow-tts model name."""


@dataclass(frozen=True)
class TinyCheckpoint:
    """Files of a saved tiny model.

    Attributes:
        checkpoint_path: The ``.pth`` file (coqui's ``{"model": state_dict, "config": ...}``).
        config_path: The ``config.json`` beside it.
    """

    checkpoint_path: Path
    config_path: Path


def build_tiny_glowtts(
    directory: Path,
    *,
    seed: int = 0,
    sample_rate: int = 22050,
    frames_per_token: float = 6.0,
    extra_letters: str = "",
    phoneme_language: str = "",
    checkpoint_name: str = "model.pth",
) -> TinyCheckpoint:
    """Builds a tiny random GlowTTS and saves its checkpoint and config into ``directory``.

    Args:
        directory: Where to write ``checkpoint_name`` and ``config.json`` (created if needed).
        seed: Seed of the random weights, so the same seed gives the same model.
        sample_rate: Sample rate written into the audio config.
        frames_per_token: Typical output frames per input character (about 70 ms at 6).
        extra_letters: Letters beyond A-Z the model reads (e.g. ``"ČčĆćĐđŠšŽž"`` for a
            Croatian voice); characters outside the vocabulary are dropped by the tokenizer.
        phoneme_language: When set (e.g. ``"en-us"``), the model reads IPA phonemes made by
            coqui's espeak phonemizer, like the thesis's LJSpeech GlowTTS; that phonemizer runs
            the ``espeak-ng`` program, so it must be installed.
        checkpoint_name: File name of the checkpoint.

    Returns:
        The paths of the checkpoint and the config.
    """
    import torch
    from TTS.tts.models.glow_tts import GlowTTS

    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    config = _tiny_config(sample_rate, extra_letters, phoneme_language)
    model = GlowTTS(config)  # builds its tokenizer and audio processor from the config
    config = model.config
    _give_speech_like_durations(model, frames_per_token=frames_per_token)
    checkpoint_path = directory / checkpoint_name
    config_path = directory / "config.json"
    torch.save({"model": model.state_dict(), "config": config.to_dict()}, checkpoint_path)
    config.save_json(str(config_path))
    return TinyCheckpoint(checkpoint_path, config_path)


def _tiny_config(sample_rate: int, extra_letters: str, phoneme_language: str) -> object:
    """A GlowTTS config with hidden sizes of 16 and a single flow block pair."""
    from TTS.config.shared_configs import BaseAudioConfig
    from TTS.tts.configs.glow_tts_config import GlowTTSConfig

    return GlowTTSConfig(
        audio=BaseAudioConfig(sample_rate=sample_rate, num_mels=80, griffin_lim_iters=10),
        use_phonemes=bool(phoneme_language),
        phonemizer="espeak" if phoneme_language else None,
        phoneme_language=phoneme_language or None,
        text_cleaner="phoneme_cleaners" if phoneme_language else "basic_cleaners",
        # Phoneme models take coqui's default IPA set; character models these letters.
        characters=None if phoneme_language else grapheme_characters(extra_letters),
        hidden_channels_enc=16,
        hidden_channels_dec=16,
        hidden_channels_dp=16,
        num_flow_blocks_dec=2,
        num_block_layers=1,
        encoder_params={
            "kernel_size": 3,
            "dropout_p": 0.1,
            "num_layers": 1,
            "num_heads": 2,
            "hidden_channels_ffn": 16,
            "input_length": None,
        },
    )


def grapheme_characters(extra_letters: str = "") -> object:
    """coqui's character set of a model fed with letters: A-Z, a-z and ``extra_letters``."""
    from TTS.tts.configs.shared_configs import CharactersConfig

    return CharactersConfig(
        characters_class="TTS.tts.utils.text.characters.Graphemes",
        pad="<PAD>",
        eos="<EOS>",
        bos="<BOS>",
        blank="<BLNK>",
        characters=string.ascii_letters + extra_letters,
        punctuations="!'(),-.:;? ",
    )


def _give_speech_like_durations(model: object, *, frames_per_token: float) -> None:
    """Biases the random duration predictor towards ``frames_per_token`` frames per token.

    Untrained, it predicts about zero, which GlowTTS rounds up to one frame per token; a real
    model speaks a character in several frames, and tests need that spread to mean something.
    """
    import math

    import torch

    projection = model.encoder.duration_predictor.proj  # type: ignore[attr-defined]
    with torch.no_grad():
        projection.weight.mul_(0.1)
        projection.bias.fill_(math.log(1.0 + frames_per_token))


def build_tiny_multiband_melgan(
    directory: Path, *, seed: int = 0, sample_rate: int = 22050
) -> TinyCheckpoint:
    """Builds a tiny random multi-band MelGAN vocoder and saves it into ``directory``.

    Args:
        directory: Where to write ``model.pth`` and ``config.json`` (created if needed).
        seed: Seed of the random weights.
        sample_rate: Sample rate written into the audio config; match the GlowTTS's.

    Returns:
        The paths of the checkpoint and the config.
    """
    import torch
    from TTS.config.shared_configs import BaseAudioConfig
    from TTS.vocoder.configs.multiband_melgan_config import MultibandMelganConfig
    from TTS.vocoder.models import setup_model

    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    config = MultibandMelganConfig(
        audio=BaseAudioConfig(sample_rate=sample_rate, num_mels=80),
        generator_model_params={"upsample_factors": [8, 4, 2], "num_res_blocks": 1},
    )
    model = setup_model(config)
    checkpoint_path = directory / "model.pth"
    config_path = directory / "config.json"
    torch.save({"model": model.state_dict(), "config": config.to_dict()}, checkpoint_path)
    config.save_json(str(config_path))
    return TinyCheckpoint(checkpoint_path, config_path)


def install_as_downloaded(models_dir: Path, *, seed: int = 0) -> None:
    """Puts a tiny GlowTTS and vocoder where coqui keeps downloaded models of these names.

    coqui's model manager finds ``<models_dir>/tts/<type>--<language>--<dataset>--<model>``
    already there and loads it without a download, exactly as on a machine that downloaded the
    real :data:`GLOW_TTS_MODEL_NAME` before.

    Args:
        models_dir: The directory given to the engine as its coqui model directory.
        seed: Seed of the random weights.
    """
    root = models_dir / "tts"
    build_tiny_glowtts(root / GLOW_TTS_MODEL_NAME.replace("/", "--"), seed=seed)
    build_tiny_multiband_melgan(root / MULTIBAND_MELGAN_NAME.replace("/", "--"), seed=seed)
