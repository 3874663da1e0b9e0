"""Train or fine-tune a GlowTTS voice on an LJSpeech-format dataset (coqui's Trainer).

    python -m avatar_tts.train DATASET OUTPUT [--language hr] [--characters]
        [--restore-path CHECKPOINT | --continue-path RUN_FOLDER] [--epochs N] ...

The same command is ``avatar train-tts``. It prints coqui's progress (loss per step, epoch
summaries) and ends with the line that serves the new voice.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from avatar_tts.training.dataset import DatasetError, load_dataset
from avatar_tts.training.recipe import (
    SIZES,
    TrainingError,
    TrainingOptions,
    hide_gpus,
    train,
)


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the training command's arguments to ``parser``."""
    parser.add_argument("dataset", type=Path, help="LJSpeech-format folder: metadata.csv, wavs/")
    parser.add_argument("output", type=Path, help="folder for runs and model.pth + config.json")
    parser.add_argument(
        "--language", default="en-us", help="espeak-ng language, e.g. en-us, hr (default en-us)"
    )
    parser.add_argument(
        "--characters", action="store_true", help="read letters instead of espeak-ng phonemes"
    )
    parser.add_argument("--size", choices=SIZES, default="ljspeech", help="model size")
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--eval-count", type=int, help="utterances held out (default 2%%)")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument("--restore-path", default="", help="checkpoint to fine-tune from")
    resume.add_argument("--continue-path", default="", help="run folder to resume")
    parser.add_argument("--workers", type=int, default=2, help="data-loading processes")
    parser.add_argument("--print-step", type=int, default=25)
    parser.add_argument("--save-step", type=int, default=1000)
    parser.add_argument("--test-delay-epochs", type=int, default=10)
    parser.add_argument("--mixed-precision", action="store_true", help="fp16 on a GPU")
    parser.add_argument(
        "--device", choices=("auto", "cpu"), default="auto", help="auto: a GPU when present"
    )


def options_from(args: argparse.Namespace) -> TrainingOptions:
    """The training options of parsed arguments."""
    return TrainingOptions(
        dataset=args.dataset,
        output=args.output,
        language=args.language,
        use_phonemes=not args.characters,
        size=args.size,
        epochs=args.epochs,
        batch_size=args.batch_size,
        evaluation_count=args.eval_count,
        learning_rate=args.learning_rate,
        restore_path=args.restore_path,
        continue_path=args.continue_path,
        workers=args.workers,
        print_step=args.print_step,
        save_step=args.save_step,
        test_delay_epochs=args.test_delay_epochs,
        mixed_precision=args.mixed_precision,
    )


def run_training(args: argparse.Namespace) -> int:
    """Runs the command: loads the dataset, trains, prints how to serve the result."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    options = options_from(args)
    try:
        if args.device == "cpu":
            hide_gpus()
        dataset = load_dataset(options.dataset, options.language)
        print(
            f"dataset {dataset.root}: {len(dataset.utterances)} utterances, "
            f"{dataset.hours * 60:.1f} min at {dataset.sample_rate} Hz; GlowTTS ({options.size}) "
            f"on {'phonemes (' + options.language + ')' if options.use_phonemes else 'letters'}",
            flush=True,
        )
        result = train(options, dataset)
    except (DatasetError, TrainingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"trained {result.steps} steps; run folder {result.run_folder}")
    print(f"model: {result.checkpoint_path}\nconfig: {result.config_path}")
    print(
        "serve it: AVATAR_TTS_COQUI_VOICES="
        f'"mine={result.checkpoint_path}|{result.config_path}|language={options.language}"'
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m avatar_tts.train``."""
    parser = argparse.ArgumentParser(
        prog="python -m avatar_tts.train", description=__doc__.splitlines()[0]
    )
    add_training_arguments(parser)
    return run_training(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
