"""End-pointing: speech probabilities per window in, utterance starts and ends out.

Speech starts after :attr:`EndpointSettings.min_speech_windows` windows in a row at or
above the threshold (so a click is not speech), dated at the first of them. It ends
after the configured silence below the lower threshold (Silero's hysteresis: threshold
- 0.15), dated where that silence began. Windows between the two thresholds change
nothing. Speech that reaches the longest utterance is cut there; if it goes on, the
next utterance starts at once.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from avatar_asr.vad import WINDOW_SECONDS


class EndReason(enum.Enum):
    """Why an utterance ended."""

    SILENCE = "silence"
    MAX_LENGTH = "max_length"
    END_OF_INPUT = "end_of_input"


@dataclass(frozen=True, slots=True)
class EndpointSettings:
    """How speech is told from silence.

    Attributes:
        threshold: Probability at or above which a window is speech.
        end_of_speech_seconds: Silence that ends an utterance.
        max_utterance_seconds: Longest utterance.
        min_speech_windows: Speech windows in a row that start an utterance.
    """

    threshold: float = 0.5
    end_of_speech_seconds: float = 0.3
    max_utterance_seconds: float = 20.0
    min_speech_windows: int = 2

    @property
    def silence_threshold(self) -> float:
        """Probability below which a window is silence."""
        return max(self.threshold - 0.15, 0.01)

    @property
    def silence_windows(self) -> int:
        """Windows of silence that end an utterance."""
        return max(1, math.ceil(self.end_of_speech_seconds / WINDOW_SECONDS - 1e-9))

    @property
    def max_windows(self) -> int:
        """Windows of the longest utterance."""
        return max(self.min_speech_windows + 1, int(self.max_utterance_seconds / WINDOW_SECONDS))


@dataclass(frozen=True, slots=True)
class SpeechStart:
    """Speech began at window ``window``."""

    window: int


@dataclass(frozen=True, slots=True)
class SpeechEnd:
    """Speech ended before window ``window`` (exclusive), for ``reason``."""

    window: int
    reason: EndReason


Boundary = SpeechStart | SpeechEnd


class Endpointer:
    """Turns each window's speech probability into utterance boundaries.

    Args:
        settings: Thresholds and lengths.
    """

    def __init__(self, settings: EndpointSettings) -> None:
        self.settings = settings
        self.windows = 0
        self.in_speech = False
        self.speech_start = 0
        self._run = 0
        self._silence_start: int | None = None

    def push(self, probability: float) -> list[Boundary]:
        """Reads the next window's probability; returns the boundaries it makes."""
        index = self.windows
        self.windows += 1
        if not self.in_speech:
            return self._while_silent(index, probability)
        return self._while_speaking(index, probability)

    @property
    def silence_start(self) -> int | None:
        """The window where the silence going on during speech began, if any."""
        return self._silence_start if self.in_speech else None

    def finish(self) -> list[Boundary]:
        """Ends the input: speech going on ends here."""
        if not self.in_speech:
            return []
        self.in_speech = False
        end = self._silence_start if self._silence_start is not None else self.windows
        return [SpeechEnd(end, EndReason.END_OF_INPUT)]

    def _while_silent(self, index: int, probability: float) -> list[Boundary]:
        if probability < self.settings.threshold:
            self._run = 0
            return []
        self._run += 1
        if self._run < self.settings.min_speech_windows:
            return []
        self._begin(index - self._run + 1)
        return [SpeechStart(self.speech_start)]

    def _while_speaking(self, index: int, probability: float) -> list[Boundary]:
        settings = self.settings
        if probability >= settings.threshold:
            self._silence_start = None
        elif probability < settings.silence_threshold and self._silence_start is None:
            self._silence_start = index
        if self._silence_start is not None and index - self._silence_start + 1 >= (
            settings.silence_windows
        ):
            self.in_speech, self._run = False, 0
            return [SpeechEnd(self._silence_start, EndReason.SILENCE)]
        if index + 1 - self.speech_start >= settings.max_windows:
            boundaries: list[Boundary] = [SpeechEnd(index + 1, EndReason.MAX_LENGTH)]
            if self._silence_start is None:
                self._begin(index + 1)
                boundaries.append(SpeechStart(index + 1))
            else:
                self.in_speech, self._run = False, 0
            return boundaries
        return []

    def _begin(self, window: int) -> None:
        self.in_speech = True
        self.speech_start = window
        self._silence_start = None
        self._run = 0
