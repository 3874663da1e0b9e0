"""Emphasis: the stressed syllables and loudness peaks that nods and brow raises follow.

Speakers move their head (a small nod) and often lift their brows on the syllables
they stress. :class:`EmphasisTrack` collects those moments, from the stressed
vowels of the phoneme timings or, without timings, from peaks of the loudness, and
turns them into two smooth pulses per moment: a nod that dips and recovers over
half a second and a quicker brow raise. A moment closer than ``MIN_GAP_SECONDS``
to one already kept is dropped, so fast speech does not make the head bob.
Pulses start at the moment itself, so a frame depends only on moments at or
before its time.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable

from avatar_animator.motion import unit_hash
from avatar_animator.visemes import VOWELS, visemes_for_symbol
from avatar_core.timing import Phoneme

NOD_SECONDS = 0.5
"""Duration of one nod: down and back up."""

BROW_SECONDS = 0.4
"""Duration of one brow raise: up and back down."""

MIN_GAP_SECONDS = 0.45
"""Shortest time between two kept moments of emphasis."""

_STRENGTH_STREAM = 41


class EmphasisTrack:
    """Moments of emphasis of one utterance and the nod and brow pulses they cause."""

    def __init__(self, seed: int) -> None:
        """Creates an empty track; the seed varies each moment's strength (0.6-1)."""
        self._seed = seed
        self._onsets: list[float] = []
        self._strengths: list[float] = []

    def __len__(self) -> int:
        return len(self._onsets)

    @property
    def onsets(self) -> tuple[float, ...]:
        """Times (seconds from the utterance start) of the kept moments."""
        return tuple(self._onsets)

    def add_phonemes(self, phonemes: Iterable[Phoneme]) -> None:
        """Adds the starts of stressed vowels as moments of emphasis."""
        for phoneme in phonemes:
            if phoneme.stressed and any(
                viseme in VOWELS for viseme in visemes_for_symbol(phoneme.symbol)
            ):
                self.add(phoneme.start_seconds)

    def add(self, seconds: float) -> None:
        """Adds a moment of emphasis unless one already kept is too close."""
        index = bisect.bisect_left(self._onsets, seconds)
        neighbours = self._onsets[max(0, index - 1) : index + 1]
        if any(abs(seconds - other) < MIN_GAP_SECONDS for other in neighbours):
            return
        strength = 0.6 + 0.4 * unit_hash(self._seed, _STRENGTH_STREAM, round(seconds * 1000))
        self._onsets.insert(index, seconds)
        self._strengths.insert(index, strength)

    def nod(self, seconds: float) -> float:
        """Depth 0-1 of the nod at a time."""
        return self._pulse(seconds, NOD_SECONDS)

    def brow(self, seconds: float) -> float:
        """Height 0-1 of the brow raise at a time."""
        return self._pulse(seconds, BROW_SECONDS)

    def _pulse(self, seconds: float, duration: float) -> float:
        """Sum of the pulses (sin^2 bumps of ``duration``) that began by ``seconds``."""
        last = bisect.bisect_right(self._onsets, seconds)
        total = 0.0
        for index in range(last - 1, -1, -1):
            elapsed = seconds - self._onsets[index]
            if elapsed >= duration:
                break
            total += self._strengths[index] * math.sin(math.pi * elapsed / duration) ** 2
        return min(1.0, total)
