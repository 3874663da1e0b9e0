"""Turns espeak-ng's word and phoneme events into timed :class:`Phoneme` and :class:`Word` items.

espeak-ng reports where each phoneme and word starts (a sample index); a phoneme ends where the
next one starts, and the last one ends with the audio. A word spans from its first phoneme's
start to its last phoneme's end, which is tighter than espeak's word events (they fire a little
before the word's first sound).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from avatar_core.timing import Phoneme, Word
from avatar_tts.engines.espeak_library import EVENT_PHONEME, EVENT_WORD, EspeakEvent

PAUSE_SYMBOL = "_"
_PRIMARY_STRESS = "ˈ"
_SECONDARY_STRESS = "ˌ"
_EDGE_PUNCTUATION = re.compile(r"^[^\w]+|[^\w]+$")
_TOKEN = re.compile(r"\S+")


@dataclass(slots=True)
class _OpenPhoneme:
    symbol: str
    start_sample: int
    stressed: bool
    text_position: int

    @property
    def is_pause(self) -> bool:
        return self.symbol == PAUSE_SYMBOL


@dataclass(slots=True)
class _WordSpan:
    start_position: int
    end_position: int
    first_sample: int | None = None
    last_sample: int | None = None


def parse_phoneme_name(name: str) -> tuple[str, bool]:
    """Splits an espeak IPA phoneme name into its symbol and whether it carries primary stress.

    Args:
        name: The event's name, e.g. ``"ˈaɪ"``, ``"ˌə"``, ``"h"``; empty for a pause.

    Returns:
        The symbol without stress marks (``"_"`` for a pause) and the primary-stress flag.
    """
    stressed = _PRIMARY_STRESS in name
    symbol = name.replace(_PRIMARY_STRESS, "").replace(_SECONDARY_STRESS, "").strip()
    return (symbol or PAUSE_SYMBOL), stressed


class EspeakTimingBuilder:
    """Builds the timing track of one utterance from espeak-ng events, as they arrive.

    Phonemes are released when the next phoneme starts; words when a sound of the next word
    starts (or the utterance ends).
    The released phonemes are contiguous from 0 to the end of the audio (gaps become pauses).

    Args:
        text: The text given to espeak-ng; word events point into it.
        sample_rate: Sample rate of the audio, to turn sample indexes into seconds.
    """

    def __init__(self, text: str, sample_rate: int) -> None:
        self._text = text
        self._sample_rate = sample_rate
        self._open_phoneme: _OpenPhoneme | None = None
        self._spans: list[_WordSpan] = []
        self._open_span: _WordSpan | None = None
        self._phonemes: list[Phoneme] = []
        self._words: list[Word] = []

    def add(self, events: list[EspeakEvent]) -> tuple[list[Phoneme], list[Word]]:
        """Takes the events of one audio buffer.

        Returns:
            The phonemes and words completed by these events.
        """
        for event in events:
            if event.kind == EVENT_WORD:
                self._add_word_span(event)
            elif event.kind == EVENT_PHONEME:
                self._start_phoneme(event)
        return self._take_released()

    def finish(self, total_samples: int) -> tuple[list[Phoneme], list[Word]]:
        """Ends the utterance at ``total_samples``.

        Returns:
            The phonemes and words not released yet; the last phoneme ends with the audio.
        """
        if self._open_phoneme is None and total_samples > 0:
            # No phoneme at all (e.g. only punctuation): the audio is one pause.
            self._open_phoneme = _OpenPhoneme(PAUSE_SYMBOL, 0, False, 0)
        if self._open_phoneme is not None:
            self._close_phoneme(total_samples)
        self._release_open_word()
        return self._take_released()

    def _add_word_span(self, event: EspeakEvent) -> None:
        start, end = event.text_position, event.text_position + max(event.length, 1)
        last = self._spans[-1] if self._spans else None
        # espeak-ng splits numbers into overlapping word events ("123" -> 41+3, 42+3): one word.
        if last is not None and start < last.end_position:
            last.end_position = max(last.end_position, end)
        else:
            self._spans.append(_WordSpan(start, end))

    def _start_phoneme(self, event: EspeakEvent) -> None:
        symbol, stressed = parse_phoneme_name(event.phoneme)
        opened = _OpenPhoneme(symbol, event.sample, stressed, event.text_position)
        current = self._open_phoneme
        if current is None:
            if opened.is_pause:
                opened.start_sample = 0
            elif opened.start_sample > 0:
                self._open_phoneme = _OpenPhoneme(PAUSE_SYMBOL, 0, False, 0)
                self._close_phoneme(opened.start_sample)
        elif current.is_pause and opened.is_pause:
            return  # consecutive pauses are one pause
        else:
            self._close_phoneme(opened.start_sample)
        # A word is complete once a sound of another word starts; pauses may fall inside one
        # word (espeak-ng reads "123" as several words with breaks).
        if not opened.is_pause and self._span_of(opened.text_position) is not self._open_span:
            self._release_open_word()
        self._open_phoneme = opened

    def _close_phoneme(self, end_sample: int) -> None:
        phoneme = self._open_phoneme
        self._open_phoneme = None
        if phoneme is None or end_sample <= phoneme.start_sample:
            return
        self._phonemes.append(
            Phoneme(
                symbol=phoneme.symbol,
                start_seconds=phoneme.start_sample / self._sample_rate,
                end_seconds=end_sample / self._sample_rate,
                stressed=phoneme.stressed,
            )
        )
        if phoneme.is_pause:
            return
        span = self._span_of(phoneme.text_position)
        if span is None:
            return
        if span is not self._open_span:
            self._release_open_word()
            self._open_span = span
        if span.first_sample is None:
            span.first_sample = phoneme.start_sample
        span.last_sample = end_sample

    def _span_of(self, text_position: int) -> _WordSpan | None:
        for span in reversed(self._spans):
            if span.start_position <= text_position:
                return span if text_position < span.end_position else None
        return None

    def _release_open_word(self) -> None:
        span = self._open_span
        self._open_span = None
        if span is None or span.first_sample is None or span.last_sample is None:
            return
        start = span.start_position - 1
        # espeak-ng's word lengths can stop short ("don't" -> 3): read on to the next space.
        token = _TOKEN.match(self._text, start)
        end = max(span.end_position - 1, token.end() if token else start)
        raw = self._text[start:end]
        text = _EDGE_PUNCTUATION.sub("", raw) or raw.strip()
        self._words.append(
            Word(
                text=text,
                start_seconds=span.first_sample / self._sample_rate,
                end_seconds=span.last_sample / self._sample_rate,
            )
        )

    def _take_released(self) -> tuple[list[Phoneme], list[Word]]:
        released = (self._phonemes, self._words)
        self._phonemes, self._words = [], []
        return released
