"""Is speech heard while the avatar talks the user, or the avatar's own voice coming back?

A browser's echo cancellation removes most of the avatar's voice from the microphone,
but not always all of it. The rule, in two steps:

1. **At the start of speech.** While a turn is in progress and the avatar's own output
   was loud in the last :data:`OUTPUT_WINDOW_SECONDS` (some tick's RMS at or above
   :data:`LOUD_RMS` of full scale; the window covers the way back from the speaker,
   through the browser and the network, to the voice-activity detector), a speech
   start stops the avatar only when the user's level (the microphone's RMS over the
   first :data:`INPUT_WINDOW_SECONDS` of the speech) is at least :data:`LOUDER_FACTOR`
   times the echo's, and at least :data:`MIN_SPEECH_RMS`. The echo's level is what the
   microphone picked up, outside the user's speech, while the avatar played loud in the
   last :data:`ECHO_LEARN_SECONDS` (the loudest 20 ms of it); until
   :data:`MIN_ECHO_SECONDS` of that were heard without a break, the echo is taken to be as loud as the
   avatar's output itself. Otherwise the start is held: the avatar goes on.
2. **At its final transcript.** A held utterance whose words are mostly
   (:data:`ECHO_WORD_SHARE`) words the avatar spoke in the last
   :data:`RECENT_SPEECH_SECONDS` is the echo and becomes no turn; any other becomes a
   turn, which stops the avatar like a text turn.

Speech that starts while no turn is in progress, or while the avatar is quiet, stops
nothing or stops the turn at once (voice barge-in). So with echo cancellation (little
of the avatar comes back) a person interrupts at once; without it (the avatar's voice
comes back as loud as it left) the avatar's own words never interrupt it, and a person
talking over it interrupts once their words are transcribed.
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

OUTPUT_WINDOW_SECONDS = 0.6
"""How far back the avatar's output counts as possibly coming back."""
LOUD_RMS = 0.02
"""Output RMS, as a fraction of full scale (about -34 dBFS), above which the avatar is
playing loud: its speech is far above this, its pauses and silence below."""
INPUT_WINDOW_SECONDS = 0.2
"""Speech over which the user's level is measured at its start."""
LOUDER_FACTOR = 1.5
"""How much louder than the echo (about 3.5 dB) the user must be for a speech start to
stop the avatar while it plays loud."""
MIN_SPEECH_RMS = 0.01
"""The least level (about -40 dBFS) of speech that stops the avatar while it plays loud."""
ECHO_LEARN_SECONDS = 3.0
"""How far back the microphone's level outside speech counts as the echo's."""
MIN_ECHO_SECONDS = 1.0
"""How long the microphone must have been heard without break outside speech, while the
avatar played loud, before the echo's level is trusted: longer than the pauses between
the avatar's sentences, where its own voice coming back is heard as the end of one
utterance and the start of the next."""
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


@dataclass(frozen=True, slots=True)
class _Heard:
    """One chunk of the microphone: when it came, where it lies, how loud it was."""

    arrived: float
    start: float
    end: float
    level: float
    loud: bool  # whether the avatar's output was loud when it came


class EchoGuard:
    """What the avatar sent and what the microphone heard, for the echo rule.

    Args:
        now: The time source (``time.perf_counter`` by default).
    """

    def __init__(self, now: Callable[[], float] = time.perf_counter) -> None:
        self._now = now
        self._output: deque[tuple[float, float]] = deque()  # (sent at, tick RMS)
        self._input: deque[_Heard] = deque()
        self._speech: list[tuple[float, float]] = []  # the user's utterances, microphone time
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

    def note_input(self, pcm: bytes, sample_rate: int, sample_offset: int) -> None:
        """Notes a chunk of the microphone, with where it lies on the microphone's clock."""
        now = self._now()
        samples = len(pcm) // 2
        start = sample_offset / sample_rate
        loud = self.output_level() >= LOUD_RMS
        self._input.append(_Heard(now, start, start + samples / sample_rate, rms_of(pcm), loud))
        while self._input and self._input[0].arrived < now - ECHO_LEARN_SECONDS:
            self._input.popleft()

    def note_speech(self, start_seconds: float, end_seconds: float = math.inf) -> None:
        """Notes an utterance of the user (microphone time; no end yet: going on)."""
        if self._speech and self._speech[-1][0] == start_seconds:
            self._speech[-1] = (start_seconds, end_seconds)
        else:
            self._speech.append((start_seconds, end_seconds))
        del self._speech[:-8]

    def output_level(self) -> float:
        """The loudest tick the avatar sent in the last :data:`OUTPUT_WINDOW_SECONDS`."""
        horizon = self._now() - OUTPUT_WINDOW_SECONDS
        return max((level for sent, level in self._output if sent >= horizon), default=0.0)

    def user_level(self, start_seconds: float) -> float:
        """The microphone's RMS over the first :data:`INPUT_WINDOW_SECONDS` of speech."""
        end = start_seconds + INPUT_WINDOW_SECONDS
        heard = [h for h in self._input if h.end > start_seconds and h.start < end]
        if not heard:
            return 0.0
        weights = [h.end - h.start for h in heard]
        energy = sum(w * h.level * h.level for w, h in zip(weights, heard, strict=True))
        return math.sqrt(energy / sum(weights)) if sum(weights) else 0.0

    def echo_level(self, start_seconds: float) -> float | None:
        """The echo's level before speech starting at ``start_seconds`` (None: unknown)."""
        learned: list[float] = []
        run = longest = 0.0
        for heard in self._input:
            if heard.end > start_seconds:
                break
            if heard.loud and not self._in_speech(heard):
                learned.append(heard.level)
                run += heard.end - heard.start
                longest = max(longest, run)
            else:
                run = 0.0
        return max(learned) if longest >= MIN_ECHO_SECONDS else None

    def start_stops_avatar(self, start_seconds: float) -> bool:
        """Whether speech that starts at ``start_seconds``, while a turn is in progress,
        stops it."""
        output = self.output_level()
        if output < LOUD_RMS:
            return True
        echo = self.echo_level(start_seconds)
        echo = output if echo is None else echo
        return self.user_level(start_seconds) >= max(LOUDER_FACTOR * echo, MIN_SPEECH_RMS)

    def _in_speech(self, heard: _Heard) -> bool:
        return any(heard.end > start and heard.start < end for start, end in self._speech)

    def is_echo(self, transcript: str) -> bool:
        """Whether a held utterance's words are mostly the avatar's recent words."""
        heard = words_of(transcript)
        if not heard:
            return False
        horizon = self._now() - RECENT_SPEECH_SECONDS
        spoken = {word for said, words in self._spoken if said >= horizon for word in words}
        return sum(word in spoken for word in heard) >= ECHO_WORD_SHARE * len(heard)
