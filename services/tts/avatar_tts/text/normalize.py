"""Text normalisation: numbers, currency, times and abbreviations spelled out before synthesis.

Every engine speaks the normalised text, so "Dr. Smith paid $5.50 at 3:30 pm" sounds the same
from espeak-ng and from a neural model (and a model never meets a digit it was not trained on).

Normalisation remembers which written token each spoken stretch came from, so the word
timings an engine reports can name the words as the user wrote them: the spoken words of one
expanded token ("nineteen eighty four") become one timed word named by the original token
("1984"), spanning from the first spoken word's start to the last one's end. Words outside
expanded tokens keep their names.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from avatar_core.timing import Word

Speak = Callable[[re.Match[str]], "str | None"]
"""Turns a rule's match into spoken words, or None to leave the match as written."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One kind of written token and how to speak it.

    Attributes:
        pattern: Matches the written token; rules are tried in order at each position.
        speak: The spoken form of a match, or None to leave it as written.
    """

    pattern: re.Pattern[str]
    speak: Speak


@dataclass(frozen=True, slots=True)
class Expansion:
    """A written token replaced by its spoken form.

    Attributes:
        original: The token as written, e.g. ``"$5.50"``.
        start: Where its spoken form starts in the normalised text.
        end: Where its spoken form ends in the normalised text.
    """

    original: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """Text ready to speak, and where each expanded token went.

    Attributes:
        original: The text as given.
        text: The text to speak.
        expansions: Expanded tokens in text order.
    """

    original: str
    text: str
    expansions: tuple[Expansion, ...] = field(default_factory=tuple)

    def word_namer(self) -> WordNamer:
        """A fresh :class:`WordNamer` for one synthesis of this text."""
        return WordNamer(self)


class Normalizer:
    """Applies a language's rules in one left-to-right pass over the text.

    Args:
        rules: The rules, most specific first.
    """

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._rules = tuple(rules)
        # One search finds the next place where any rule may match; the rules then decide.
        flags = functools.reduce(operator.or_, (rule.pattern.flags for rule in rules), 0)
        self._trigger = re.compile(
            "|".join(f"(?:{rule.pattern.pattern})" for rule in rules), flags & re.IGNORECASE
        )

    def normalize(self, text: str) -> NormalizedText:
        """Spells out every token a rule speaks; the rest of the text is kept as written."""
        pieces: list[str] = []
        expansions: list[Expansion] = []
        length = 0
        position = 0
        cursor = 0
        while (found := self._trigger.search(text, cursor)) is not None:
            match, spoken = self._first_spoken(text, found.start())
            if match is None or spoken is None:
                cursor = found.start() + 1
                continue
            kept = text[position : match.start()]
            kept += " " if _needs_space(kept or "".join(pieces[-1:]), spoken) else ""
            pieces.append(kept)
            length += len(kept)
            pieces.append(spoken)
            core = spoken.rstrip(".,;:!? ")
            expansions.append(Expansion(match.group(0).strip(), length, length + len(core)))
            length += len(spoken)
            position = cursor = match.end()
            if position < len(text) and _needs_space(spoken, text[position]):
                pieces.append(" ")
                length += 1
        pieces.append(text[position:])
        return NormalizedText(text, "".join(pieces), tuple(expansions))

    def _first_spoken(self, text: str, start: int) -> tuple[re.Match[str] | None, str | None]:
        for rule in self._rules:
            match = rule.pattern.match(text, start)
            if match is not None and match.end() > start:
                spoken = rule.speak(match)
                if spoken is not None:
                    return match, spoken
        return None, None


def _needs_space(before: str, after: str) -> bool:
    """Whether two pieces would run together as one word without a space between them."""
    return bool(before) and bool(after) and before[-1].isalnum() and after[0].isalnum()


class WordNamer:
    """Renames an engine's timed words after the written tokens they were expanded from.

    Words arrive in order, possibly over several chunks; a word of an expanded token is held
    back until the token's last spoken word has arrived, then the token leaves as one word.

    Args:
        normalized: The normalised text the engine spoke.
    """

    def __init__(self, normalized: NormalizedText) -> None:
        self._text = normalized.text
        self._expansions = normalized.expansions
        self._cursor = 0
        self._pending: tuple[Expansion, Word] | None = None

    def add(self, words: Iterable[Word]) -> list[Word]:
        """Takes the next timed words; returns those whose names are now final."""
        named: list[Word] = []
        for word in words:
            expansion = self._expansion_of(word.text)
            if self._pending is not None and expansion is self._pending[0]:
                first = self._pending[1]
                self._pending = (expansion, replace(first, end_seconds=word.end_seconds))
                continue
            named.extend(self.finish())
            if expansion is None:
                named.append(word)
            else:
                self._pending = (expansion, replace(word, text=expansion.original))
        return named

    def finish(self) -> list[Word]:
        """Returns the word held back, if any (call once the engine has finished)."""
        if self._pending is None:
            return []
        word = self._pending[1]
        self._pending = None
        return [word]

    def _expansion_of(self, spoken: str) -> Expansion | None:
        """Finds the spoken word in the text after the previous one; its expansion, if any."""
        if not spoken:
            return None
        pattern = re.compile(rf"(?<!\w){re.escape(spoken)}(?!\w)", re.IGNORECASE)
        found = pattern.search(self._text, self._cursor)
        if found is None:
            return None  # a name the text does not contain (e.g. "#3"): leave it alone
        self._cursor = found.end()
        return next(
            (e for e in self._expansions if e.start <= found.start() < e.end),
            None,
        )
