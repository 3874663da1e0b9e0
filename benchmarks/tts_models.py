"""Real-size coqui models with random weights, for timing the neural voice path.

Model weights cannot be downloaded here, but a network's compute does not depend on its
weights: a GlowTTS with coqui's LJSpeech configuration (the architecture of
``tts_models/en/ljspeech/glow-tts``: rel-pos transformer encoder, 12 flow blocks) and a
HiFiGAN with its V1 generator (coqui's ``HifiganConfig`` defaults) cost what the trained
models cost. The one thing random weights get wrong is the length of the speech, so the
duration predictor is biased towards a speech-like 6 frames (70 ms) per phoneme, as the
tests' tiny models are.
"""

from __future__ import annotations

import math
from pathlib import Path

from avatar_devtools.tiny_glowtts import TinyCheckpoint

FRAMES_PER_PHONEME = 6.0


def build_ljspeech_glowtts(directory: Path, *, seed: int = 0) -> TinyCheckpoint:
    """A GlowTTS of coqui's LJSpeech recipe (phonemes, en-us) with random weights.

    Returns:
        The checkpoint and ``config.json`` written into ``directory``.
    """
    import torch
    from TTS.tts.configs.glow_tts_config import GlowTTSConfig
    from TTS.tts.models.glow_tts import GlowTTS

    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    config = GlowTTSConfig(
        use_phonemes=True,
        phonemizer="espeak",
        phoneme_language="en-us",
        text_cleaner="phoneme_cleaners",
    )
    model = GlowTTS(config)
    projection = model.encoder.duration_predictor.proj
    with torch.no_grad():
        projection.weight.mul_(0.01)
        projection.bias.fill_(math.log(1.0 + FRAMES_PER_PHONEME))
    return _save(directory, model, model.config)


def build_hifigan_v1(directory: Path, *, seed: int = 0) -> TinyCheckpoint:
    """A HiFiGAN vocoder with the V1 generator (22050 Hz, hop 256) and random weights."""
    import torch
    from TTS.vocoder.configs.hifigan_config import HifiganConfig
    from TTS.vocoder.models import setup_model

    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    config = HifiganConfig()
    model = setup_model(config)
    return _save(directory, model, config)


def build_multiband_melgan(directory: Path, *, seed: int = 0) -> TinyCheckpoint:
    """A multi-band MelGAN vocoder of coqui's LJSpeech configuration (what the ``glow-tts``
    preset pairs with the LJSpeech GlowTTS) with random weights."""
    import torch
    from TTS.vocoder.configs.multiband_melgan_config import MultibandMelganConfig
    from TTS.vocoder.models import setup_model

    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    config = MultibandMelganConfig()
    model = setup_model(config)
    return _save(directory, model, config)


def parameter_count(checkpoint: TinyCheckpoint) -> int:
    """Number of weights in a saved model (generator and discriminator alike)."""
    import torch

    state = torch.load(checkpoint.checkpoint_path, map_location="cpu", weights_only=False)
    return sum(tensor.numel() for tensor in state["model"].values())


def _save(directory: Path, model, config) -> TinyCheckpoint:  # coqui model and config
    import torch

    checkpoint_path = directory / "model.pth"
    config_path = directory / "config.json"
    torch.save({"model": model.state_dict(), "config": config.to_dict()}, checkpoint_path)
    config.save_json(str(config_path))
    return TinyCheckpoint(checkpoint_path, config_path)
