"""Builds a tiny, randomly initialised YourTTS-style voice-cloning model for tests.

YourTTS is a VITS model conditioned on a speaker embedding (a d-vector) that a speaker encoder
computes from a sample of the voice to clone. This builds both parts with hidden sizes small
enough for a CPU test and saves them the way coqui does (checkpoints and ``config.json``
files), with the VITS config pointing at the encoder, so coqui treats it as a cloning model.
"""

from __future__ import annotations

from pathlib import Path

from avatar_devtools.tiny_glowtts import TinyCheckpoint, grapheme_characters

EMBEDDING_SIZE = 16


def build_tiny_yourtts(
    directory: Path, *, seed: int = 0, sample_rate: int = 16000
) -> TinyCheckpoint:
    """Builds a tiny cloning VITS and its speaker encoder into ``directory``.

    Args:
        directory: Where to write ``model.pth``, ``config.json`` and the encoder's
            ``model_se.pth`` and ``config_se.json`` (created if needed).
        seed: Seed of the random weights.
        sample_rate: Sample rate of the model and the encoder.

    Returns:
        The paths of the VITS checkpoint and its config.
    """
    import torch
    from TTS.config.shared_configs import BaseAudioConfig
    from TTS.tts.configs.vits_config import VitsConfig
    from TTS.tts.models.vits import Vits

    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    encoder_checkpoint, encoder_config = _build_speaker_encoder(directory, sample_rate)
    config = VitsConfig(
        audio=BaseAudioConfig(sample_rate=sample_rate, num_mels=80),
        use_phonemes=False,
        text_cleaner="basic_cleaners",
        characters=grapheme_characters(),
        model_args=_tiny_vits_args(encoder_checkpoint, encoder_config),
    )
    model = Vits(config)
    checkpoint_path = directory / "model.pth"
    config_path = directory / "config.json"
    torch.save({"model": model.state_dict(), "config": model.config.to_dict()}, checkpoint_path)
    model.config.save_json(str(config_path))
    return TinyCheckpoint(checkpoint_path, config_path)


def _tiny_vits_args(encoder_checkpoint: Path, encoder_config: Path) -> object:
    """VITS settings with hidden sizes of 16, one layer each, conditioned on d-vectors."""
    from TTS.tts.configs.vits_config import VitsArgs

    return VitsArgs(
        hidden_channels=16,
        hidden_channels_ffn_text_encoder=16,
        num_layers_text_encoder=1,
        num_layers_posterior_encoder=1,
        num_layers_flow=1,
        resblock_kernel_sizes_decoder=[3],
        resblock_type_decoder="2",
        resblock_dilation_sizes_decoder=[[1, 3]],
        upsample_initial_channel_decoder=16,
        use_d_vector_file=True,
        d_vector_dim=EMBEDDING_SIZE,
        speaker_encoder_model_path=str(encoder_checkpoint),
        speaker_encoder_config_path=str(encoder_config),
        init_discriminator=False,
        use_sdp=False,
        # No sampling noise, so the same text and sample always give the same audio.
        inference_noise_scale=0.0,
    )


def _build_speaker_encoder(directory: Path, sample_rate: int) -> tuple[Path, Path]:
    import torch
    from TTS.config.shared_configs import BaseAudioConfig
    from TTS.encoder.configs.speaker_encoder_config import SpeakerEncoderConfig
    from TTS.encoder.utils.generic_utils import setup_encoder_model

    config = SpeakerEncoderConfig(
        audio=BaseAudioConfig(sample_rate=sample_rate, num_mels=80),
        model_params={
            "model_name": "lstm",
            "input_dim": 80,
            "proj_dim": EMBEDDING_SIZE,
            "lstm_dim": 16,
            "num_lstm_layers": 1,
            "use_lstm_with_projection": True,
        },
        num_classes_in_batch=1,
        num_utter_per_class=1,
        num_loader_workers=0,
    )
    encoder = setup_encoder_model(config)
    checkpoint_path = directory / "model_se.pth"
    config_path = directory / "config_se.json"
    torch.save({"model": encoder.state_dict()}, checkpoint_path)
    config.save_json(str(config_path))
    return checkpoint_path, config_path
