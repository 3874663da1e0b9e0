"""Is speech heard while the avatar talks the user, or the avatar's own voice coming back?

A browser's echo cancellation removes most of the avatar's voice from the microphone,
but not always all of it. The rule, in two steps:

1. **At the start of speech.** While a turn is in progress and the avatar's own output
   was loud in the last :data:`OUTPUT_WINDOW_SECONDS` (some tick's RMS at or above
   :data:`LOUD_RMS` of full scale: the window covers the way back from the speaker,
   through the browser and the network, to the voice-activity detector), a speech
   start stops the avatar only when the microphone's level over the last
   :data:`INPUT_WINDOW_SECONDS` is at least :data:`LOUDER_FACTOR` times that output
   level: a person clearly louder than any echo could be. Otherwise the start is held:
   the avatar goes on.
2. **At its final transcript.** A held utterance whose words are mostly
   (:data:`ECHO_WORD_SHARE`) words the avatar spoke in the last
   :data:`RECENT_SPEECH_SECONDS` is the echo and becomes no turn; any other becomes a
   turn, which stops the avatar like a text turn.

Speech that starts while no turn plays, or while the avatar is quiet, stops the turn
at once (voice barge-in).
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable

import numpy as np

OUTPUT_WINDOW_SECONDS = 0.6
"""How far back the avatar's output counts as possibly coming back."""
LOUD_RMS = 0.02
"""Output RMS, as a fraction of full scale (about -34 dBFS), above which the avatar is
playing loud: its speech is far above this, its pauses and silence below."""
INPUT_WINDOW_SECONDS = 0.2
"""Microphone audio over which the user's level is measured at a speech start."""
LOUDER_FACTOR = 1.5
"""How much louder than the avatar's output (about 3.5 dB) the microphone must be for a
speech start to stop the avatar while it plays loud."""
ECHO_WORD_SHARE = 0.5
"""Share of a held utterance's words that must be the avatar's own to call it echo."""
RECENT_SPEECH_SECONDS = 30.0
"""How long the avatar's spoken sentences are remembered for the word match."""

_FULL_SCALE = 32768.0
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def words_of(text: str) -> list[str]:
    """Lower-case words without punctuation."""
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def rms_of(pcm: bytes) -> float:
    """RMS of s16le samples as a fraction of full scale (0 for no samples)."""
    if len(pcm) < 2:
        return 0.0
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float32)
    return float(np.sqrt(np.mean(samples * samples))) / _FULL_SCALE


class EchoGuard:
    """What the avatar sent and what the microphone heard, for the echo rule.

    Args:
        now: The time source (``time.perf_counter`` by default).
    """

    def __init__(self, now: Callable[[], float] = time.perf_counter) -> None:
        self._now = now
        self._output: deque[tuple[float, float]] = deque()  # (sent at, tick RMS)
        self._input: deque[tuple[int, float]] = deque()  # (samples, sum of squares)
        self._input_samples = 0
        self._input_rate = 0
        self._spoken: deque[tuple[float, list[str]]] = deque()

    def note_output(self, level: float) -> None:
        """Notes one tick sent with its audio's RMS (0 for silence)."""
        now = self._now()
        self._output.append((now, level))
        while self._output and self._output[0][0] < now - OUTPUT_WINDOW_SECONDS:
            self._output.popleft()

    def note_spoken(self, text: str) -> None:
        """Notes a sentence of the avatar that began to play."""
        now = self._now()
        self._spoken.append((now, words_of(text)))
        while self._spoken and self._spoken[0][0] < now - RECENT_SPEECH_SECONDS:
            self._spoken.popleft()

    def note_input(self, pcm: bytes, sample_rate: int) -> None:
        """Notes a chunk of the microphone."""
        samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
        self._input.append((len(samples), float(np.sum(samples * samples))))
        self._input_samples += len(samples)
        self._input_rate = sample_rate
        keep = INPUT_WINDOW_SECONDS * sample_rate
        while self._input and self._input_samples - self._input[0][0] >= keep:
            self._input_samples -= self._input.popleft()[0]

    def output_level(self) -> float:
        """The loudest tick the avatar sent in the last :data:`OUTPUT_WINDOW_SECONDS`."""
        horizon = self._now() - OUTPUT_WINDOW_SECONDS
        return max((level for sent, level in self._output if sent >= horizon), default=0.0)

    def input_level(self) -> float:
        """The microphone's RMS over its last :data:`INPUT_WINDOW_SECONDS`."""
        if not self._input_samples:
            return 0.0
        energy = sum(squares for _, squares in self._input)
        return float(np.sqrt(energy / self._input_samples)) / _FULL_SCALE

    def start_stops_avatar(self) -> bool:
        """Whether speech that starts now, while a turn is in progress, stops it."""
        output = self.output_level()
        return output < LOUD_RMS or self.input_level() >= LOUDER_FACTOR * output

    def is_echo(self, transcript: str) -> bool:
        """Whether a held utterance's words are mostly the avatar's recent words."""
        heard = words_of(transcript)
        if not heard:
            return False
        horizon = self._now() - RECENT_SPEECH_SECONDS
        spoken = {word for said, words in self._spoken if said >= horizon for word in words}
        return sum(word in spoken for word in heard) >= ECHO_WORD_SHARE * len(heard)
