"""Turns a coqui model's per-token durations into timed :class:`Phoneme` and :class:`Word` items.

Duration-based coqui models (GlowTTS, VITS, YourTTS, FastPitch...) align every input token
with a number of output frames. A token is an IPA character for phoneme models and a letter
for character models; this module groups tokens into phonemes (stress and length marks join
their neighbours, padding and blank tokens lend their time to the phoneme before them,
punctuation becomes a pause, diphthongs and affricates spelled with two tokens become one),
maps letters to IPA, and cuts words at spaces.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from avatar_core.timing import Phoneme, Word

PAUSE_SYMBOL = "_"
_PRIMARY_STRESS = "ˈ"
_SECONDARY_STRESS = "ˌ"
# Sounds that phoneme models spell with two tokens; joined so they read like espeak-ng's.
_JOINED_SOUNDS = frozenset(
    {"aɪ", "aʊ", "eɪ", "oʊ", "ɔɪ", "əʊ", "eə", "ɪə", "ʊə", "tʃ", "dʒ", "ts", "tɕ", "dʑ"}
)
_WRITTEN_WORD = re.compile(r"\w+(?:['’-]\w+)*")

# Letters whose sound differs from the IPA letter of the same shape, for models fed with
# characters. Croatian spelling is phonemic, so its table is exact; the default one is a
# rough English reading, good enough for mouth shapes.
_LETTER_SOUNDS: dict[str, dict[str, str]] = {
    "hr": {
        "c": "ts",
        "č": "tʃ",
        "ć": "tɕ",
        "đ": "dʑ",
        "š": "ʃ",
        "ž": "ʒ",
        "e": "ɛ",
        "o": "ɔ",
        "h": "x",
    },
    "default": {"c": "k", "j": "dʒ", "q": "k", "x": "ks", "y": "j", "r": "ɹ", "g": "ɡ"},
}


@dataclass(frozen=True, slots=True)
class TokenDuration:
    """One input token of a model and the time its output frames span.

    Attributes:
        symbol: The token's text: an IPA character, a letter, punctuation, a space, or a
            special token such as ``<BLNK>``.
        frames: Output frames aligned with it (fractional for soft alignments).
    """

    symbol: str
    frames: float


@dataclass(slots=True)
class _Draft:
    symbol: str
    start: float
    end: float
    stressed: bool
    word_index: int | None


def letter_to_sound(letter: str, language: str) -> str:
    """Reads one letter of a character model's input as an IPA symbol.

    Args:
        letter: A single lower- or upper-case letter.
        language: BCP 47 tag; its primary subtag picks the table (``"hr"``), else a rough
            English reading.

    Returns:
        The IPA symbol(s) for the letter.
    """
    table = _LETTER_SOUNDS.get(language.split("-")[0].lower(), _LETTER_SOUNDS["default"])
    lower = letter.lower()
    return table.get(lower, lower)


def tokens_to_timings(
    tokens: Sequence[TokenDuration],
    *,
    seconds_per_frame: float,
    special_tokens: frozenset[str],
    tokens_are_phonemes: bool,
    language: str,
    text: str,
) -> tuple[list[Phoneme], list[Word]]:
    """Builds the timing track of one utterance from its tokens and their durations.

    Args:
        tokens: The model's input tokens in order, with their output frames.
        seconds_per_frame: Duration of one output frame (hop length / sample rate).
        special_tokens: Padding, blank and sentence tokens; their time goes to the phoneme
            before them.
        tokens_are_phonemes: True when tokens are IPA characters, False for letters.
        language: BCP 47 tag of the text, to read letters as sounds.
        text: The text as written; its words name the timed words when their count matches.

    Returns:
        Phonemes, contiguous from 0 in time order, and the words they form.
    """
    builder = _TrackBuilder(tokens_are_phonemes, language)
    position = 0.0
    for token in tokens:
        start, position = position, position + max(token.frames, 0.0) * seconds_per_frame
        builder.add(token.symbol, _token_kind(token.symbol, special_tokens), start, position)
    drafts = builder.drafts
    phonemes = [Phoneme(d.symbol, d.start, d.end, d.stressed) for d in drafts if d.end > d.start]
    return phonemes, _words(drafts, builder.word_count, text)


class _TrackBuilder:
    """Accumulates phoneme drafts token by token, tracking words and pending stress."""

    def __init__(self, tokens_are_phonemes: bool, language: str) -> None:
        self._tokens_are_phonemes = tokens_are_phonemes
        self._language = language
        self._in_word = False
        self._stress_pending = False
        self.drafts: list[_Draft] = []
        self.word_count = 0

    def add(self, symbol: str, kind: str, start: float, end: float) -> None:
        if kind == "sound" or (kind == "modifier" and not self.drafts):
            self._add_sound(symbol, start, end)
            return
        if kind == "pause":
            self._in_word = False
            _append(self.drafts, _Draft(PAUSE_SYMBOL, start, end, False, None))
            return
        if kind == "stress":
            self._stress_pending = self._stress_pending or symbol == _PRIMARY_STRESS
        elif kind == "space":
            self._in_word = False
        elif kind == "modifier" and self.drafts[-1].symbol != PAUSE_SYMBOL:
            self.drafts[-1].symbol += symbol
        _extend_or_open_pause(self.drafts, start, end)

    def _add_sound(self, symbol: str, start: float, end: float) -> None:
        if not self._in_word:
            self.word_count += 1
            self._in_word = True
        word_index = self.word_count - 1
        sound = symbol if self._tokens_are_phonemes else letter_to_sound(symbol, self._language)
        previous = self.drafts[-1] if self.drafts else None
        if (
            previous is not None
            and previous.word_index == word_index
            and previous.symbol + sound in _JOINED_SOUNDS
        ):
            previous.symbol += sound
            previous.end = end
            previous.stressed = previous.stressed or self._stress_pending
        else:
            _append(self.drafts, _Draft(sound, start, end, self._stress_pending, word_index))
        self._stress_pending = False


def _token_kind(symbol: str, special_tokens: frozenset[str]) -> str:
    if symbol in special_tokens or not symbol:
        return "special"
    if symbol.isspace():
        return "space"
    if symbol in (_PRIMARY_STRESS, _SECONDARY_STRESS):
        return "stress"
    category = unicodedata.category(symbol[0])
    if category in ("Lm", "Mn", "Sk"):
        return "modifier"  # length marks, aspiration, ties: part of the previous sound
    if category.startswith(("L", "N")):
        return "sound"
    return "pause"


def _extend_or_open_pause(drafts: list[_Draft], start: float, end: float) -> None:
    if drafts:
        drafts[-1].end = end
    else:
        drafts.append(_Draft(PAUSE_SYMBOL, start, end, False, None))


def _append(drafts: list[_Draft], draft: _Draft) -> None:
    if drafts and drafts[-1].symbol == PAUSE_SYMBOL and draft.symbol == PAUSE_SYMBOL:
        drafts[-1].end = draft.end
    else:
        drafts.append(draft)


def _words(drafts: list[_Draft], word_count: int, text: str) -> list[Word]:
    spans: list[list[float]] = [[] for _ in range(word_count)]
    for draft in drafts:
        if draft.word_index is not None:
            spans[draft.word_index].extend((draft.start, draft.end))
    written = _WRITTEN_WORD.findall(text)
    # The model's input may differ from the written text (cleaners expand numbers), so the
    # written words name the timed ones only when they pair up one to one.
    names = (
        written if len(written) == word_count else [f"#{index + 1}" for index in range(word_count)]
    )
    return [
        Word(name, min(times), max(times))
        for name, times in zip(names, spans, strict=True)
        if times
    ]


def fit_to_duration(
    phonemes: list[Phoneme], words: list[Word], duration_seconds: float
) -> tuple[list[Phoneme], list[Word]]:
    """Makes a timing track end exactly where the audio ends.

    Models may drop a frame or two at the end (GlowTTS's decoder works on pairs of frames,
    Griffin-Lim loses one hop), so the track is clipped to the audio, or closed with a pause
    when the audio runs longer.

    Args:
        phonemes: Contiguous phonemes from 0.
        words: Words within the phonemes' span.
        duration_seconds: Length of the audio.

    Returns:
        Phonemes that end at ``duration_seconds`` (none for empty audio), and the words
        clipped to the audio.
    """
    if duration_seconds <= 0:
        return [], []
    fitted = [p for p in phonemes if p.start_seconds < duration_seconds]
    if not fitted:
        fitted = [Phoneme(PAUSE_SYMBOL, 0.0, duration_seconds)]
    last = fitted[-1]
    if last.end_seconds >= duration_seconds or last.symbol == PAUSE_SYMBOL:
        fitted[-1] = Phoneme(last.symbol, last.start_seconds, duration_seconds, last.stressed)
    else:
        fitted.append(Phoneme(PAUSE_SYMBOL, last.end_seconds, duration_seconds))
    clipped = [
        Word(w.text, w.start_seconds, min(w.end_seconds, duration_seconds))
        for w in words
        if w.start_seconds < duration_seconds
    ]
    return fitted, clipped
