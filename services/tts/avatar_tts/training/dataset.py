"""LJSpeech-format datasets for training: ``metadata.csv`` plus ``wavs/<id>.wav``.

Each line of ``metadata.csv`` is ``id|text`` or ``id|text|normalized text`` (LJSpeech's own
layout). The text a model learns from is the normalised column when present, else the text
normalised by the same rules the service applies before synthesis
(:mod:`avatar_tts.text`), so a trained voice reads "21" the way it heard it.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

from avatar_tts.text import normalize_text

METADATA_FILE = "metadata.csv"
WAVS_FOLDER = "wavs"
DATASET_NAME = "avatar"


class DatasetError(ValueError):
    """The dataset folder is not usable LJSpeech-format data (the message says why)."""


@dataclass(frozen=True, slots=True)
class Utterance:
    """One recording and what is said in it.

    Attributes:
        identifier: The recording's id (its file name without ``.wav``).
        text: What is said, normalised (numbers etc. as words).
        audio_file: Path of the WAV file.
        seconds: Its length.
    """

    identifier: str
    text: str
    audio_file: Path
    seconds: float


@dataclass(frozen=True, slots=True)
class Dataset:
    """A checked LJSpeech-format dataset.

    Attributes:
        root: The dataset folder.
        utterances: Its recordings in file order.
        sample_rate: The sample rate all recordings share.
    """

    root: Path
    utterances: tuple[Utterance, ...]
    sample_rate: int

    @property
    def hours(self) -> float:
        """Total length of the recordings, hours."""
        return sum(u.seconds for u in self.utterances) / 3600

    def letters(self) -> str:
        """Every letter the texts use, lower-cased and sorted (a character model's alphabet)."""
        return "".join(sorted({c for u in self.utterances for c in u.text.lower() if c.isalpha()}))

    def samples(self, language: str) -> list[dict[str, str]]:
        """The utterances as coqui's training samples."""
        return [
            {
                "text": u.text,
                "audio_file": str(u.audio_file),
                "speaker_name": DATASET_NAME,
                "root_path": str(self.root),
                "language": language,
                "audio_unique_name": f"{DATASET_NAME}#{WAVS_FOLDER}/{u.identifier}",
            }
            for u in self.utterances
        ]


def load_dataset(root: Path, language: str) -> Dataset:
    """Reads and checks an LJSpeech-format folder.

    Args:
        root: Folder with ``metadata.csv`` and ``wavs/``.
        language: Language of the texts (``en-us``, ``hr``...), to normalise them.

    Raises:
        DatasetError: Missing files, malformed lines, unreadable or mixed-rate WAV files.
    """
    metadata = root / METADATA_FILE
    if not metadata.is_file():
        raise DatasetError(f"{metadata} not found: an LJSpeech-format dataset has one")
    utterances: list[Utterance] = []
    rates: set[int] = set()
    for number, line in enumerate(metadata.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        columns = line.split("|")
        if len(columns) < 2 or not columns[0].strip() or not columns[-1].strip():
            raise DatasetError(f"{metadata}:{number}: expected 'id|text' or 'id|text|normalized'")
        identifier = columns[0].strip()
        text = columns[2].strip() if len(columns) > 2 else columns[1].strip()
        if len(columns) == 2:
            text = normalize_text(text, language).text
        audio_file = root / WAVS_FOLDER / f"{identifier}.wav"
        rate, seconds = _wav_header(audio_file, f"{metadata}:{number}")
        rates.add(rate)
        utterances.append(Utterance(identifier, text, audio_file, seconds))
    if not utterances:
        raise DatasetError(f"{metadata} lists no recordings")
    if len(rates) > 1:
        raise DatasetError(f"the recordings mix sample rates {sorted(rates)}: resample them to one")
    return Dataset(root, tuple(utterances), rates.pop())


def _wav_header(path: Path, where: str) -> tuple[int, float]:
    """Sample rate and length of a WAV file, read from its header only."""
    if not path.is_file():
        raise DatasetError(f"{where}: {path} not found")
    try:
        with wave.open(str(path), "rb") as reader:
            if reader.getnchannels() != 1:
                raise DatasetError(f"{path} has {reader.getnchannels()} channels; use mono")
            return reader.getframerate(), reader.getnframes() / reader.getframerate()
    except (wave.Error, EOFError) as error:
        raise DatasetError(f"{path} is not a PCM WAV file: {error}") from error


def split(dataset: Dataset, evaluation_count: int) -> tuple[Dataset, Dataset]:
    """Splits off every n-th utterance for evaluation, so both halves cover the whole set.

    Returns:
        The training and the evaluation datasets (the latter empty for a count of 0).
    """
    count = max(0, min(evaluation_count, len(dataset.utterances) - 1))
    if count == 0:
        return dataset, Dataset(dataset.root, (), dataset.sample_rate)
    stride = len(dataset.utterances) / count
    chosen = {int(index * stride + stride / 2) for index in range(count)}
    train = tuple(u for i, u in enumerate(dataset.utterances) if i not in chosen)
    evaluation = tuple(u for i, u in enumerate(dataset.utterances) if i in chosen)
    return (
        Dataset(dataset.root, train, dataset.sample_rate),
        Dataset(dataset.root, evaluation, dataset.sample_rate),
    )
