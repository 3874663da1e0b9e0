"""Timing tracks: what was said when, shared by the speech and animation stages.

Times are seconds from the start of the utterance (one sentence's audio). Phoneme
symbols are IPA, whichever engine produced them, so one viseme table serves all.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Phoneme:
    """One phoneme with its time span.

    Attributes:
        symbol: IPA symbol(s), e.g. ``"p"``, ``"aɪ"``, ``"ə"``; ``""`` or ``"_"`` for a pause.
        start_seconds: Start time, seconds from the utterance start.
        end_seconds: End time, seconds from the utterance start.
        stressed: Whether the syllable carrying it has primary stress.
    """

    symbol: str
    start_seconds: float
    end_seconds: float
    stressed: bool = False


@dataclass(frozen=True, slots=True)
class Word:
    """One word with its time span (seconds from the utterance start)."""

    text: str
    start_seconds: float
    end_seconds: float


@dataclass(frozen=True, slots=True)
class TimingTrack:
    """Phonemes and words of an utterance, in time order."""

    phonemes: tuple[Phoneme, ...] = field(default_factory=tuple)
    words: tuple[Word, ...] = field(default_factory=tuple)

    @property
    def end_seconds(self) -> float:
        """End time of the last phoneme, or 0.0 for an empty track."""
        return max((p.end_seconds for p in self.phonemes), default=0.0)
