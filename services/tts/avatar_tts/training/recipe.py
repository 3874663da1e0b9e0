"""The GlowTTS training recipe: coqui's Trainer on an LJSpeech-format dataset.

As the thesis did for English and Croatian: GlowTTS reading phonemes (espeak-ng, language
configurable) or characters, trained from scratch or fine-tuned from a checkpoint (e.g. the
LJSpeech GlowTTS, for a new language or voice), resumable from a run folder. The result is a
``model.pth`` and ``config.json`` pair in the output folder that the coqui engine loads as it
is (``AVATAR_TTS_COQUI_VOICES="mine=<output>/model.pth|<output>/config.json"``).

Sizes: ``ljspeech`` is coqui's LJSpeech GlowTTS (the architecture of
``tts_models/en/ljspeech/glow-tts``); ``tiny`` has hidden sizes of 16 and trains in seconds
on a CPU, for checking a dataset and the pipeline end to end.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avatar_tts.training.dataset import DATASET_NAME, Dataset, load_dataset, split

SIZES = ("ljspeech", "tiny")
_TINY_MODEL = {
    "hidden_channels_enc": 16,
    "hidden_channels_dec": 16,
    "hidden_channels_dp": 16,
    "num_flow_blocks_dec": 2,
    "num_block_layers": 1,
    "data_dep_init_steps": 1,
    "encoder_params": {
        "kernel_size": 3,
        "dropout_p": 0.1,
        "num_layers": 1,
        "num_heads": 2,
        "hidden_channels_ffn": 16,
        "input_length": None,
    },
}
_TEST_SENTENCES = {
    "en": ["It took me quite a long time to develop a voice.", "Be a voice, not an echo."],
    "hr": ["Dobar dan, kako ste danas?", "Ovo je moj novi glas."],
}
_PUNCTUATION = "!'(),-.:;? "


class TrainingError(RuntimeError):
    """Training could not start or did not finish (the message says why)."""


@dataclass(frozen=True)
class TrainingOptions:
    """What to train and how.

    Attributes:
        dataset: LJSpeech-format folder (``metadata.csv``, ``wavs/``).
        output: Folder for the runs and the exported ``model.pth`` + ``config.json``.
        language: espeak-ng language of the phonemes and of text normalisation
            (``en-us``, ``hr``...).
        use_phonemes: Read phonemes (espeak-ng); False reads the texts' letters.
        size: ``ljspeech`` or ``tiny`` (see the module docstring).
        epochs: Epochs to train (in all, when continuing a run).
        batch_size: Utterances per training step.
        evaluation_count: Utterances held out for evaluation; None means 2 % (1-50).
        learning_rate: The optimiser's learning rate.
        restore_path: A checkpoint to fine-tune from (weights only; layers that do not fit,
            such as another alphabet's embedding, start fresh).
        continue_path: A run folder to resume (weights, optimiser and step).
        workers: Data-loading processes (0 loads in the training process).
        print_step: Steps between progress lines.
        save_step: Steps between checkpoints (a final one is always saved).
        test_delay_epochs: Epochs before test sentences are synthesised for the dashboard.
        mixed_precision: Train in fp16 on a GPU.
        run_name: Name of the run folders.
    """

    dataset: Path
    output: Path
    language: str = "en-us"
    use_phonemes: bool = True
    size: str = "ljspeech"
    epochs: int = 1000
    batch_size: int = 32
    evaluation_count: int | None = None
    learning_rate: float = 1e-3
    restore_path: str = ""
    continue_path: str = ""
    workers: int = 2
    print_step: int = 25
    save_step: int = 1000
    test_delay_epochs: int = 10
    mixed_precision: bool = False
    run_name: str = "glowtts"
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingResult:
    """What a training run produced.

    Attributes:
        run_folder: coqui's run folder (checkpoints, logs, the dashboard's events).
        checkpoint_path: The exported model, loadable by the coqui engine.
        config_path: Its ``config.json``.
        steps: Training steps done in all (including a resumed run's).
    """

    run_folder: Path
    checkpoint_path: Path
    config_path: Path
    steps: int


def train(options: TrainingOptions, dataset: Dataset | None = None) -> TrainingResult:
    """Trains (or fine-tunes, or resumes) a GlowTTS and exports it into ``options.output``.

    Args:
        options: What to train and how.
        dataset: The dataset, if already loaded; else read from ``options.dataset``.

    Raises:
        DatasetError: The dataset is not usable.
        TrainingError: A tool is missing or the Trainer failed.
    """
    _check_options(options)
    dataset = dataset or load_dataset(options.dataset, options.language)
    config = build_config(options, dataset)
    from trainer import Trainer, TrainerArgs
    from TTS.tts.models.glow_tts import GlowTTS

    model = GlowTTS(config)  # builds its tokenizer (and IPA alphabet) into model.config
    train_set, evaluation_set = split(dataset, _evaluation_count(options, dataset))
    args = TrainerArgs(restore_path=options.restore_path, continue_path=options.continue_path)
    trainer = Trainer(
        args,
        model.config,
        str(options.output),
        model=model,
        train_samples=train_set.samples(options.language),
        eval_samples=evaluation_set.samples(options.language) or None,
        parse_command_line_args=False,
    )
    trainer.config.epochs = options.epochs  # a resumed run keeps its config but not its end
    try:
        trainer.fit()
    except SystemExit as error:  # the Trainer exits the process when training fails
        raise TrainingError(f"training failed (exit status {error.code}); see above") from error
    trainer.save_checkpoint()
    run_folder = Path(trainer.output_path)
    checkpoint, config_path = export_model(run_folder, options.output)
    return TrainingResult(run_folder, checkpoint, config_path, trainer.total_steps_done)


def build_config(options: TrainingOptions, dataset: Dataset) -> Any:
    """The coqui ``GlowTTSConfig`` of a run; a resumed run's own config when continuing."""
    from TTS.config.shared_configs import BaseAudioConfig, BaseDatasetConfig
    from TTS.tts.configs.glow_tts_config import GlowTTSConfig

    config = GlowTTSConfig()
    if options.continue_path:
        config.load_json(str(Path(options.continue_path) / "config.json"))
        return config
    primary = options.language.split("-")[0].lower()
    config = GlowTTSConfig(
        run_name=options.run_name,
        output_path=str(options.output),
        audio=BaseAudioConfig(sample_rate=dataset.sample_rate),
        datasets=[
            BaseDatasetConfig(
                formatter="ljspeech",
                dataset_name=DATASET_NAME,
                path=str(dataset.root),
                meta_file_train="metadata.csv",
                language=options.language,
            )
        ],
        use_phonemes=options.use_phonemes,
        phonemizer="espeak" if options.use_phonemes else None,
        phoneme_language=options.language,  # also tells the engine the voice's language
        phoneme_cache_path=str(options.output / "phoneme_cache"),
        text_cleaner=_cleaner(options.use_phonemes, primary),
        characters=None if options.use_phonemes else _grapheme_characters(dataset.letters()),
        batch_size=options.batch_size,
        eval_batch_size=max(1, min(options.batch_size, 16)),
        num_loader_workers=options.workers,
        num_eval_loader_workers=options.workers,
        run_eval=_evaluation_count(options, dataset) > 0,
        test_delay_epochs=options.test_delay_epochs,
        test_sentences=_TEST_SENTENCES.get(primary, _TEST_SENTENCES["en"]),
        epochs=options.epochs,
        lr=options.learning_rate,
        print_step=options.print_step,
        print_eval=False,
        save_step=options.save_step,
        mixed_precision=options.mixed_precision,
    )
    if options.size == "tiny":
        for key, value in _TINY_MODEL.items():
            setattr(config, key, value)
    for key, value in options.extra.items():
        setattr(config, key, value)
    return config


def export_model(run_folder: Path, output: Path) -> tuple[Path, Path]:
    """Copies the run's newest checkpoint (weights and config only) and ``config.json`` to
    ``output/model.pth`` and ``output/config.json``."""
    import torch

    checkpoints = sorted(
        run_folder.glob("checkpoint_*.pth"), key=lambda path: int(path.stem.split("_")[1])
    )
    if not checkpoints:
        raise TrainingError(f"no checkpoint in {run_folder}")
    # Our own file, written by the Trainer a moment ago; it holds more than tensors.
    state = torch.load(checkpoints[-1], map_location="cpu", weights_only=False)
    exported = {key: state[key] for key in ("model", "config", "step", "epoch") if key in state}
    checkpoint_path, config_path = output / "model.pth", output / "config.json"
    torch.save(exported, checkpoint_path)
    shutil.copyfile(run_folder / "config.json", config_path)
    return checkpoint_path, config_path


def _check_options(options: TrainingOptions) -> None:
    if options.size not in SIZES:
        raise TrainingError(f"unknown size {options.size!r}; use one of {', '.join(SIZES)}")
    if options.use_phonemes and not (shutil.which("espeak-ng") or shutil.which("espeak")):
        raise TrainingError(
            "phoneme training runs the espeak-ng program (coqui's phonemizer): install the "
            "Debian package espeak-ng (tools/install-system-packages.sh does), or train on "
            "characters"
        )
    for name, path in (("restore", options.restore_path), ("continue", options.continue_path)):
        if path and not Path(path).exists():
            raise TrainingError(f"--{name}-path {path} does not exist")
    options.output.mkdir(parents=True, exist_ok=True)


def _evaluation_count(options: TrainingOptions, dataset: Dataset) -> int:
    if options.evaluation_count is not None:
        return options.evaluation_count
    return max(1, min(50, round(0.02 * len(dataset.utterances))))


def _cleaner(use_phonemes: bool, primary_language: str) -> str:
    # The texts are normalised already; English phoneme cleaners also expand abbreviations.
    if use_phonemes:
        return "phoneme_cleaners" if primary_language == "en" else "multilingual_phoneme_cleaners"
    return "multilingual_cleaners"


def _grapheme_characters(letters: str) -> Any:
    from TTS.tts.configs.shared_configs import CharactersConfig

    return CharactersConfig(
        characters_class="TTS.tts.utils.text.characters.Graphemes",
        pad="<PAD>",
        eos="<EOS>",
        bos="<BOS>",
        blank="<BLNK>",
        characters=letters,
        punctuations=_PUNCTUATION,
    )


def hide_gpus() -> None:
    """Makes this process train on the CPU even where a GPU is present."""
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_initialized():
            raise TrainingError("CUDA is already in use in this process; cannot switch to CPU")
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
