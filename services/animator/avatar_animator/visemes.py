"""Phonemes (IPA) to visemes, and visemes to a coarticulated mouth track.

Visemes follow Meta's 15-class set (sil, PP, FF, TH, DD, kk, CH, SS, nn, RR, aa,
E, ih, oh, ou). The TTS engines emit IPA (Kokoro's own symbols are read as the
IPA they stand for); symbols are normalised (stress and length marks, diacritics
and tie bars removed) and split greedily into known sounds, so a diphthong such
as ``aɪ`` becomes ``aa`` then ``ih``.

:class:`VisemeTrack` turns timed visemes into :class:`MouthShape` values with
Cohen-Massaro style dominance functions: every segment pulls the mouth towards
its target with a strength that fades with distance in time, so neighbours blend
(coarticulation). On top of the blend, lips are forced fully closed around the
centre of every p/b/m, held for at least one frame so no frame rate can miss it.
"""

from __future__ import annotations

import bisect
import math
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np

from avatar_core.timing import Phoneme


class Viseme(StrEnum):
    """Meta's 15 visemes: a silence, ten consonant classes and five vowel classes."""

    SIL = "sil"
    PP = "PP"
    FF = "FF"
    TH = "TH"
    DD = "DD"
    KK = "kk"
    CH = "CH"
    SS = "SS"
    NN = "nn"
    RR = "RR"
    AA = "aa"
    E = "E"
    IH = "ih"
    OH = "oh"
    OU = "ou"


VOWELS = frozenset({Viseme.AA, Viseme.E, Viseme.IH, Viseme.OH, Viseme.OU})
"""Visemes of vowels (stress changes how wide they open)."""

# IPA sounds per viseme. Glottal sounds (h, ʔ) are absent on purpose: they have no
# mouth shape of their own and take their neighbours' (see _WEAK_SOUNDS).
_VISEME_SOUNDS: dict[Viseme, tuple[str, ...]] = {
    Viseme.SIL: ("_", "|", "‖", ".", "#", " "),
    Viseme.PP: ("p", "b", "m", "ɓ", "ʙ"),
    Viseme.FF: ("f", "v", "ɱ", "ʋ", "ɸ", "β"),
    Viseme.TH: ("θ", "ð"),
    Viseme.DD: ("t", "d", "ɾ", "ʈ", "ɖ", "ɗ", "c", "ɟ"),
    Viseme.KK: ("k", "g", "ɡ", "ŋ", "x", "ɣ", "q", "ɢ", "χ"),
    Viseme.CH: ("tʃ", "dʒ", "tɕ", "dʑ", "ʈʂ", "ɖʐ", "ʃ", "ʒ", "ɕ", "ʑ", "ç", "ʝ", "ʂ", "ʐ"),
    Viseme.SS: ("ts", "dz", "s", "z"),
    Viseme.NN: ("n", "l", "ɫ", "ɲ", "ʎ", "ɳ", "ɭ", "ʟ", "ɬ", "ɮ"),
    Viseme.RR: ("r", "ɹ", "ɻ", "ʀ", "ʁ", "ɽ", "ɚ", "ɝ"),
    Viseme.AA: ("a", "ɑ", "æ", "ɐ", "ʌ", "ɶ", "ä"),
    Viseme.E: ("e", "ɛ", "ə", "ɜ", "ɘ", "ɵ"),
    Viseme.IH: ("i", "ɪ", "ɨ", "ɯ", "j", "ɰ"),
    Viseme.OH: ("o", "ɔ", "ɒ", "ø", "œ", "ɤ"),
    Viseme.OU: ("u", "ʊ", "w", "ʉ", "y", "ʏ", "ɥ", "ʍ"),
}
# How far each vowel opens the jaw relative to its viseme's opening: the jaw follows
# vowel height (open a, ɒ wide; close i, u and the reduced ə little), and open vowels
# are also the loudest, so the mouth opens with the sound.
_VOWEL_HEIGHT = {
    "æ": 0.95, "ɐ": 0.85, "ʌ": 0.85,
    "e": 0.9, "ɛ": 1.05, "ə": 0.7, "ɜ": 0.9, "ɘ": 0.75, "ɵ": 0.75,
    "i": 0.9, "j": 0.6, "ɰ": 0.6,
    "o": 0.95, "ɔ": 1.05, "ɒ": 1.1, "ɤ": 0.9,
    "u": 0.9, "ʊ": 1.05, "w": 0.7,
}  # fmt: skip
_WEAK_SOUNDS = ("h", "ɦ", "ʔ", "ħ", "ʕ")
_SOUND_VISEME = {sound: viseme for viseme, sounds in _VISEME_SOUNDS.items() for sound in sounds}
_LONGEST_SOUND = max(len(sound) for sound in _SOUND_VISEME)
# Kokoro's own symbols (the hibari voice's vocabulary: capitals for diphthongs, ligatures for
# affricates), read as the IPA they stand for; its engine already sends IPA, this is for any
# track that carries them as they are.
_KOKORO_SOUNDS = {
    "A": "eɪ",
    "I": "aɪ",
    "O": "oʊ",
    "Q": "əʊ",
    "W": "aʊ",
    "Y": "ɔɪ",
    "ʤ": "dʒ",
    "ʧ": "tʃ",
    "ᵊ": "ə",
    "ᵻ": "ɪ",
}
# Marks that change a sound's length, stress or tone but not the mouth shape.
_IGNORED_MARKS = frozenset("ˈˌːˑ'\u0361\u035c-ʰʲʷˠˤⁿˡ˞̃")


@dataclass(frozen=True, slots=True)
class MouthShape:
    """Mouth controls of one frame, relative to the photo's own mouth.

    Attributes:
        opening: Inner-lip gap in mouth widths, added to ``rest`` x the photo's gap.
        rest: Share of the photo's own lip gap kept (1 at rest, 0 while speaking).
        width: Relative change of mouth width (+ spread, - rounded/protruded).
        upper_lip: Upper-lip raise in mouth widths (shows the upper teeth).
        lower_lip: Lower-lip raise relative to the jaw in mouth widths (f, v).
        tongue: Tongue height, 0 resting on the floor of the mouth (seen on open
            vowels) to 1 raised against the upper teeth (l, t, d, n, th).
        tongue_tip: How far the tongue tip comes forward between the teeth, in
            front of them (th), 0 to 1.
    """

    opening: float = 0.0
    rest: float = 1.0
    width: float = 0.0
    upper_lip: float = 0.0
    lower_lip: float = 0.0
    tongue: float = 0.0
    tongue_tip: float = 0.0


REST_SHAPE = MouthShape()
"""The mouth as in the photo."""


@dataclass(frozen=True, slots=True)
class _VisemeStyle:
    """Target shape of a viseme, how strongly it resists its neighbours, and how far
    (seconds) its influence reaches beyond its own span."""

    shape: MouthShape
    strength: float
    spread: float = 0.05


_STYLES: dict[Viseme | None, _VisemeStyle] = {
    Viseme.SIL: _VisemeStyle(MouthShape(rest=1.0), 0.8, 0.06),
    Viseme.PP: _VisemeStyle(MouthShape(0.0, 0.0, -0.02), 1.5, 0.045),
    Viseme.FF: _VisemeStyle(MouthShape(0.05, 0.0, 0.0, 0.03, 0.04, 0.2), 1.3),
    # The tongue tip touches the upper teeth, or for th shows between the teeth.
    Viseme.TH: _VisemeStyle(MouthShape(0.10, 0.0, 0.02, tongue=1.0, tongue_tip=1.0), 0.7),
    Viseme.DD: _VisemeStyle(MouthShape(0.10, 0.0, 0.03, tongue=0.9), 0.5),
    Viseme.KK: _VisemeStyle(MouthShape(0.14, 0.0, 0.0, tongue=0.35), 0.45),
    Viseme.CH: _VisemeStyle(MouthShape(0.10, 0.0, -0.14, 0.02, tongue=0.5), 0.9),
    Viseme.SS: _VisemeStyle(MouthShape(0.05, 0.0, 0.06, tongue=0.6), 0.8),
    Viseme.NN: _VisemeStyle(MouthShape(0.10, 0.0, 0.02, tongue=0.9), 0.5),
    Viseme.RR: _VisemeStyle(MouthShape(0.10, 0.0, -0.10, tongue=0.4), 0.7),
    # Vowels reach further: their shape colours the consonants around them. Open
    # vowels lay the tongue low, close front vowels raise it.
    Viseme.AA: _VisemeStyle(MouthShape(0.52, 0.0, 0.02), 1.0, 0.08),
    Viseme.E: _VisemeStyle(MouthShape(0.32, 0.0, 0.07, tongue=0.2), 1.0, 0.08),
    Viseme.IH: _VisemeStyle(MouthShape(0.2, 0.0, 0.10, tongue=0.45), 1.0, 0.08),
    Viseme.OH: _VisemeStyle(MouthShape(0.375, 0.0, -0.16), 1.0, 0.08),
    Viseme.OU: _VisemeStyle(MouthShape(0.15, 0.0, -0.26, tongue=0.15), 1.0, 0.08),
    # Glottal sounds: a half-open mouth with almost no pull, so neighbours decide.
    None: _VisemeStyle(MouthShape(0.15, 0.0), 0.08),
}
# A pause between phrases: the lips relax nearly shut (an open-mouthed photo's smile
# returns only when the speech is over).
_PAUSE_STYLE = _VisemeStyle(MouthShape(rest=0.25), 0.8, 0.06)
PAUSE_MIN_SECONDS = 0.15
"""Silences at least this long, after some speech, count as pauses between phrases."""


def normalize_symbol(symbol: str) -> str:
    """Drops stress/length marks, diacritics and tie bars from an IPA symbol."""
    decomposed = unicodedata.normalize("NFD", symbol)
    kept = (
        char
        for char in decomposed
        if char not in _IGNORED_MARKS and not unicodedata.combining(char)
    )
    return unicodedata.normalize("NFC", "".join(kept))


def visemes_for_symbol(symbol: str) -> tuple[Viseme | None, ...]:
    """Maps one IPA phoneme symbol to its viseme sequence.

    Args:
        symbol: E.g. ``"p"``, ``"ˈaɪ"``, ``"t͡ʃ"``; ``""`` or ``"_"`` for a pause.

    Returns:
        One viseme per sound found (a diphthong gives two); ``None`` marks a
        glottal sound with no shape of its own. A pause gives ``(Viseme.SIL,)``;
        a symbol with no known sound gives ``(None,)``.
    """
    return tuple(viseme for viseme, _ in sounds_for_symbol(symbol))


def sounds_for_symbol(symbol: str) -> tuple[tuple[Viseme | None, str], ...]:
    """Splits one IPA phoneme symbol into its sounds, each with its viseme.

    Returns:
        (viseme, sound) pairs as :func:`visemes_for_symbol` describes; the sound
        is the IPA text matched (``""`` for a pause or an unknown symbol).
    """
    text = "".join(_KOKORO_SOUNDS.get(char, char) for char in normalize_symbol(symbol))
    if not text.strip():
        return ((Viseme.SIL, ""),)
    found: list[tuple[Viseme | None, str]] = []
    position = 0
    while position < len(text):
        for length in range(min(_LONGEST_SOUND, len(text) - position), 0, -1):
            piece = text[position : position + length]
            lowered = piece.lower()
            if piece in _SOUND_VISEME or lowered in _SOUND_VISEME:
                known = piece if piece in _SOUND_VISEME else lowered
                found.append((_SOUND_VISEME[known], known))
                position += length
                break
            if length == 1 and (piece in _WEAK_SOUNDS or lowered in _WEAK_SOUNDS):
                found.append((None, piece))
                position += 1
                break
        else:
            position += 1  # an unknown character: skip it
    return tuple(found) or ((None, ""),)


@dataclass(frozen=True, slots=True)
class VisemeSegment:
    """A viseme over a time span.

    Attributes:
        viseme: The viseme; None for a glottal sound that takes its neighbours' shape.
        start_seconds: Start, seconds from the utterance start.
        end_seconds: End, seconds from the utterance start.
        stressed: Whether the syllable has primary stress.
        jaw: Share of the viseme's opening this sound takes (vowel height: an open
            ``a`` 1, a reduced ``ə`` less).
    """

    viseme: Viseme | None
    start_seconds: float
    end_seconds: float
    stressed: bool = False
    jaw: float = 1.0


def viseme_segments(phonemes: Iterable[Phoneme]) -> list[VisemeSegment]:
    """Converts phonemes to viseme segments, splitting multi-sound symbols in time.

    The first sound of a diphthong gets 60% of the span, as its onset is held longer.
    """
    segments = []
    for phoneme in phonemes:
        sounds = sounds_for_symbol(phoneme.symbol)
        start, end = phoneme.start_seconds, max(phoneme.end_seconds, phoneme.start_seconds)
        shares = [1.5] + [1.0] * (len(sounds) - 1)
        total = sum(shares)
        cursor = start
        for (viseme, sound), share in zip(sounds, shares, strict=True):
            stop = cursor + (end - start) * share / total
            jaw = _VOWEL_HEIGHT.get(sound, 1.0)
            segments.append(VisemeSegment(viseme, cursor, stop, phoneme.stressed, jaw))
            cursor = stop
    return segments


CLOSURE_SHARE = 0.0
"""The lips stay shut this share of a p/b/m's span either side of its centre (or
half a frame, if longer)."""
CLOSURE_LEAD_SECONDS = 0.015
"""The lips are shut this long before a p/b/m starts."""
CLOSING_SECONDS = 0.02
"""How long the lips take to press shut before a p/b/m."""
RELEASE_SECONDS = 0.02
"""How long they take to part after it."""

_FIELDS = ("opening", "rest", "width", "upper_lip", "lower_lip", "tongue", "tongue_tip")
_REST_TARGET = tuple(getattr(REST_SHAPE, name) for name in _FIELDS)


class VisemeTrack:
    """A growing list of viseme segments, evaluated as mouth shapes at any time."""

    def __init__(
        self,
        *,
        min_closure_seconds: float = 0.04,
        anticipation_seconds: float = 0.03,
        frame_seconds: float | None = None,
    ) -> None:
        """Creates an empty track.

        Args:
            min_closure_seconds: Shortest full lip closure around a p/b/m centre;
                one frame period guarantees a closed frame at any frame rate.
            anticipation_seconds: How far the mouth leads the sound.
            frame_seconds: The period of the frames that will be rendered (frame k at
                ``k * frame_seconds``), when known: the lips then stay shut just to
                the frame nearest each p/b/m centre instead of half a frame past the
                centre, and part with the sound that follows.
        """
        self._min_closure = min_closure_seconds
        self._anticipation = anticipation_seconds
        self._frame = frame_seconds
        self._starts: list[float] = []
        self._segments: list[VisemeSegment] = []
        self._styles: list[_VisemeStyle] = []
        # Each segment's target controls (its shape, stressed), in _FIELDS order.
        self._targets: list[tuple[float, ...]] = []
        self._closures: list[tuple[float, float]] = []

    def __len__(self) -> int:
        return len(self._segments)

    @property
    def end_seconds(self) -> float:
        """End of the last segment (0.0 when empty)."""
        return max((segment.end_seconds for segment in self._segments), default=0.0)

    def extend(self, phonemes: Iterable[Phoneme]) -> None:
        """Adds phonemes (in any order; the track stays sorted by start time)."""
        for segment in viseme_segments(phonemes):
            index = bisect.bisect_right(self._starts, segment.start_seconds)
            style = self._style(segment, index)
            self._starts.insert(index, segment.start_seconds)
            self._segments.insert(index, segment)
            self._styles.insert(index, style)
            target = _stressed(style.shape, segment)
            self._targets.insert(index, tuple(getattr(target, name) for name in _FIELDS))
            if segment.viseme is Viseme.PP:
                self._closures.append(self._closure_span(segment))

    def _style(self, segment: VisemeSegment, index: int) -> _VisemeStyle:
        """The style of a segment about to be inserted at ``index``."""
        if (
            segment.viseme is Viseme.SIL
            and segment.end_seconds - segment.start_seconds >= PAUSE_MIN_SECONDS
            and any(earlier.viseme is not Viseme.SIL for earlier in self._segments[:index])
        ):
            return _PAUSE_STYLE
        return _STYLES[segment.viseme]

    def _closure_span(self, segment: VisemeSegment) -> tuple[float, float]:
        """When the lips are pressed shut for a p/b/m.

        From a little before its start (lips close ahead of the sound; espeak-ng even
        counts a stop's silent closure in the phoneme before it) to just past its
        centre: to the frame nearest the centre when the frame period is known,
        else half a frame past it, so that frame always shows shut lips. Neural
        voices time a stop's release well before its span ends; holding the lips
        longer would keep them shut into the vowel that follows.
        """
        start, end = segment.start_seconds, segment.end_seconds
        centre = (start + end) / 2
        share = CLOSURE_SHARE * (end - start)
        if self._frame:
            nearest = round(centre / self._frame) * self._frame
            first, last = min(centre - share, nearest - 1e-3), max(centre + share, nearest + 1e-3)
        else:
            half = max(share, self._min_closure / 2)
            first, last = centre - half, centre + half
        return min(start, first) - CLOSURE_LEAD_SECONDS, last

    def mouth_at(self, seconds: float) -> MouthShape:
        """The coarticulated mouth shape at a time (seconds from the utterance start)."""
        when = seconds + self._anticipation
        reach = 0.4  # beyond ~5 spreads a segment's pull is negligible
        first = max(0, bisect.bisect_left(self._starts, when - reach - 2.0))
        last = bisect.bisect_right(self._starts, when + reach)
        # A faint pull towards rest brings the mouth home far from any segment.
        weights, targets = [0.01], [_REST_TARGET]
        for segment, style, target in zip(
            self._segments[first:last],
            self._styles[first:last],
            self._targets[first:last],
            strict=True,
        ):
            distance = max(segment.start_seconds - when, when - segment.end_seconds, 0.0)
            if distance > reach:
                continue
            weights.append(style.strength * math.exp(-((distance / style.spread) ** 2)))
            targets.append(target)
        matrix = np.array(targets)
        blend = np.asarray(weights) @ matrix / sum(weights)
        closure = self._closure_at(seconds)
        opening, rest = blend[0] * (1.0 - closure), blend[1] * (1.0 - closure)
        return MouthShape(float(opening), float(rest), *map(float, blend[2:]))

    def _closure_at(self, seconds: float) -> float:
        """How fully the lips are pressed shut at a time: 1 inside a p/b/m hold."""
        closure = 0.0
        for start, end in self._closures:
            if start - CLOSING_SECONDS < seconds < end + RELEASE_SECONDS:
                if start <= seconds <= end:
                    return 1.0
                if seconds < start:
                    share = (start - seconds) / CLOSING_SECONDS
                else:
                    share = (seconds - end) / RELEASE_SECONDS
                closure = max(closure, 0.5 + 0.5 * math.cos(math.pi * share))
        return closure


def _stressed(shape: MouthShape, segment: VisemeSegment) -> MouthShape:
    """Opens stressed vowels wider and reduced ones less."""
    if segment.viseme not in VOWELS:
        return shape
    factor = (1.15 if segment.stressed else 0.85) * segment.jaw
    return replace(shape, opening=shape.opening * factor)
