"""Sentence splitting for speech, in bounded linear time (no gRPC here).

Text is cut into sentences so the first one can be spoken while the rest is still
being synthesised. The splitter is our own single pass over the characters: general
sentence splitters built on backtracking regular expressions can take tens of
seconds on short crafted input, which would stall a request.

Rules, in short:

* A sentence ends at ``.``, ``!``, ``?`` or ``…`` (also runs such as ``?!`` or
  ``...``, and closing quotes or brackets right after them) followed by white space
  and a word that may start a sentence, or at the end of the text. A blank line
  ends a sentence too.
* The CJK marks ``。！？`` end a sentence even with no space after them.
* No split before a word starting with a lowercase letter (``e.g. apples``,
  ``5. svibnja``), after titles that precede names (``Mr.``, ``Dr.``, ``prof.``),
  after single-letter initials (``J. R. R. Tolkien``), or between an abbreviation
  such as ``No.`` or ``Jan.`` and a number. Decimals (``3.14``) never split, since
  no space follows their dot.
* A sentence longer than ``max_chars`` is cut at the last comma, semicolon, colon or
  dash that leaves a reasonable piece, else at the last space, else mid-word.
* White space inside a sentence is collapsed to single spaces; pieces without any
  letter or digit are dropped, since there is nothing in them to speak.
"""

from __future__ import annotations

DEFAULT_MAX_CHARS = 300
_MIN_MAX_CHARS = 8

_TERMINATORS = frozenset(".!?…")
_CJK_TERMINATORS = frozenset("。！？｡")
_CLOSERS = frozenset("\"'”’»)]}」』）】")
_OPENERS = "\"'“‘«([{「『（【¿¡"
_CLAUSE_MARKS = frozenset(",;:—–，；：、")
_TERMINATOR_CHARS = "".join(sorted(_TERMINATORS))
_CLOSER_CHARS = "".join(sorted(_CLOSERS))

# fmt: off
# Words that precede a name or another word and so never end a sentence.
_NEVER_ENDS_SENTENCE = frozenset({
    "mr", "mrs", "ms", "mx", "dr", "prof", "rev", "hon", "st", "mt", "sr", "jr", "gen", "col",
    "lt", "sgt", "capt", "gov", "sen", "rep", "pres", "messrs", "mme", "mlle", "vs", "cf",
    "viz", "approx", "e.g", "i.e", "al", "sv", "npr", "tj", "gđa", "gđica", "gosp", "ing",
    "dipl",
})
# Abbreviations that do not end a sentence when a number follows ("No. 5", "Jan. 3").
_BEFORE_NUMBERS = frozenset({
    "no", "nos", "nr", "vol", "p", "pp", "ch", "sec", "art", "fig", "br", "str", "jan", "feb",
    "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
})
# Words that open a question; contractions are cut at the apostrophe ("isn't" -> "isn").
_ENGLISH_QUESTION_WORDS = frozenset({
    "who", "what", "when", "where", "why", "how", "which", "whose", "whom", "is", "are", "am",
    "was", "were", "can", "could", "do", "does", "did", "will", "would", "should", "shall",
    "may", "might", "have", "has", "isn", "aren", "wasn", "weren", "couldn", "doesn",
    "didn", "won", "wouldn", "shouldn",
})
_CROATIAN_QUESTION_WORDS = frozenset({
    "tko", "što", "sto", "kada", "kad", "gdje", "zašto", "zasto", "kako", "koliko", "čiji",
    "čija", "čije", "ciji", "cija", "cije", "jeli", "jel",
})
# fmt: on
_QUESTION_MARKS = ("?", "？")


class SentenceBuffer:
    """Cuts a stream of text deltas (an LLM's answer) into complete sentences.

    Feed deltas with :meth:`push`; each call returns the sentences completed so far.
    :meth:`flush` returns what is left once the stream has ended. Pushing a whole
    text and flushing gives exactly :func:`split_sentences`.

    A sentence is only reported once the next word has started (that word decides
    whether a dot ends the sentence), except for CJK marks and over-long text, which
    are cut as soon as the cut is certain. Work per pushed character is amortised
    constant.

    Args:
        max_chars: Longest piece returned; longer sentences are cut.
    """

    def __init__(self, max_chars: int = DEFAULT_MAX_CHARS) -> None:
        if max_chars < _MIN_MAX_CHARS:
            raise ValueError(f"max_chars must be at least {_MIN_MAX_CHARS}, got {max_chars}")
        self._max_chars = max_chars
        self._words: list[str] = []  # complete words of the current sentence
        self._joined_length = 0  # len(" ".join(self._words))
        self._word: list[str] = []  # characters of the word being read
        self._boundary_decided = False  # whether a sentence ends before the word being read
        self._newlines_in_gap = 0  # newlines since the last complete word
        self._after_cjk_mark = False  # the word being read ended a CJK sentence
        self._output: list[str] = []

    def push(self, delta: str) -> list[str]:
        """Adds text; returns the sentences that are complete now, in order."""
        for character in delta:
            self._read(character)
        return self._take_output()

    def flush(self) -> list[str]:
        """Ends the stream; returns the remaining sentences and resets the buffer."""
        self._finish_word()
        self._close_sentence()
        self._newlines_in_gap = 0
        return self._take_output()

    def _take_output(self) -> list[str]:
        output, self._output = self._output, []
        return output

    def _read(self, character: str) -> None:
        if character.isspace():
            self._finish_word()
            if character == "\n":
                self._newlines_in_gap += 1
            return
        if self._after_cjk_mark and character not in _CLOSERS and character not in _CJK_TERMINATORS:
            self._finish_word()
        self._word.append(character)
        if not self._boundary_decided and character not in _OPENERS:
            # The first letter of the next word is all a decision needs: decide now,
            # so the previous sentence goes out without waiting for this word to end.
            self._decide_boundary(character)
        if character in _CJK_TERMINATORS:
            self._after_cjk_mark = True
        if len(self._word) > self._max_chars:
            # A word longer than a whole piece: its first max_chars characters are a
            # piece of their own whatever follows, so cut now and keep memory bounded.
            self._decide_boundary("")
            fragment = "".join(self._word[: self._max_chars])
            del self._word[: self._max_chars]
            self._add_word(fragment)

    def _decide_boundary(self, next_start: str) -> None:
        """Closes the current sentence if it ends before a word starting with ``next_start``."""
        if self._boundary_decided:
            return
        self._boundary_decided = True
        paragraph_break = self._newlines_in_gap >= 2
        self._newlines_in_gap = 0
        if self._words and (paragraph_break or _ends_sentence(self._words[-1], next_start)):
            self._close_sentence()

    def _finish_word(self) -> None:
        if self._word:
            self._decide_boundary("")
            word = "".join(self._word)
            self._word.clear()
            self._add_word(word)
        self._boundary_decided = False
        self._after_cjk_mark = False

    def _add_word(self, word: str) -> None:
        if self._words:
            self._joined_length += 1
        self._words.append(word)
        self._joined_length += len(word)
        # Cut to the limit first: a CJK mark ends the sentence, but not its length check.
        while self._joined_length > self._max_chars:
            self._cut_long_sentence()
        if _ends_with_cjk_mark(word):
            self._close_sentence()

    def _close_sentence(self) -> None:
        if self._words:
            self._emit(self._words)
        self._words = []
        self._joined_length = 0

    def _emit(self, words: list[str]) -> None:
        piece = " ".join(words)
        if any(character.isalnum() for character in piece):
            self._output.append(piece)

    def _cut_long_sentence(self) -> None:
        """Emits the first piece of the current sentence, which is over ``max_chars``."""
        limit = self._max_chars
        fitting = 0  # how many leading words fit within the limit
        length = -1
        best_clause_end = 0
        for word in self._words:
            if length + 1 + len(word) > limit:
                break
            length += 1 + len(word)
            fitting += 1
            if word[-1] in _CLAUSE_MARKS and length >= limit // 3:
                best_clause_end = fitting
        # Words are never longer than the limit (see _read), so at least one fits.
        count = best_clause_end or fitting
        self._emit(self._words[:count])
        removed = sum(len(word) for word in self._words[:count]) + count
        del self._words[:count]
        self._joined_length = max(0, self._joined_length - removed)


def split_sentences(text: str, *, max_chars: int = DEFAULT_MAX_CHARS) -> list[str]:
    """Splits ``text`` into sentences of at most ``max_chars`` characters, for speech.

    Args:
        text: Any text; its white space is normalised.
        max_chars: Longest piece returned (at least 8); longer sentences are cut at
            clause marks, else at spaces, else mid-word.

    Returns:
        The non-empty pieces in order. Runs in time linear in ``len(text)``.
    """
    buffer = SentenceBuffer(max_chars)
    return buffer.push(text) + buffer.flush()


def _ends_with_cjk_mark(word: str) -> bool:
    return word.rstrip(_CLOSER_CHARS)[-1:] in _CJK_TERMINATORS


def _ends_sentence(word: str, next_start: str) -> bool:
    """Whether a sentence ends after ``word`` when the next word starts with ``next_start``.

    ``next_start`` is the next word's first character after any opening quotes or
    brackets ("" when there is none).
    """
    core = word.rstrip(_CLOSER_CHARS)
    if not core or core[-1] not in _TERMINATORS:
        return False
    had_closers = len(core) < len(word)
    stem = core.rstrip(_TERMINATOR_CHARS)
    marks = core[len(stem) :]
    starts_lowercase = next_start.islower()
    if "!" in marks or "?" in marks:
        # 'He asked "why?" and left': a quoted question inside a sentence.
        return not (had_closers and starts_lowercase)
    if starts_lowercase:
        return False
    if marks != ".":
        return True  # an ellipsis before a capital letter
    key = stem.lstrip(_OPENERS).lower()
    if key in _NEVER_ENDS_SENTENCE:
        return False
    if len(key) == 1 and key.isalpha() and stem[-1:] != "I":
        return False  # an initial; "I." is far more often the pronoun
    return not (next_start.isdigit() and key in _BEFORE_NUMBERS)


def is_question(text: str) -> bool:
    """Whether ``text`` asks something (the gateway's "auto" mode sends it to the LLM).

    True when the text ends with a question mark, or does not end with ``!`` and
    starts with an English or Croatian question word ("what", "can", "kako",
    "je li", ...) or has the Croatian particle "li" as its second word.

    Args:
        text: The user's text.
    """
    stripped = text.strip().rstrip(_CLOSER_CHARS).rstrip()
    if not stripped:
        return False
    if stripped.endswith(_QUESTION_MARKS):
        return True
    if stripped.endswith(("!", "！")):
        return False
    words = _leading_words(stripped, 2)
    first = words[0] if words else ""
    if first in _ENGLISH_QUESTION_WORDS or first in _CROATIAN_QUESTION_WORDS:
        return True
    return len(words) == 2 and words[1] == "li"


def _leading_words(text: str, count: int) -> list[str]:
    """The first ``count`` words, lowercased, cut at the first apostrophe.

    Reads at most a bounded prefix, so a huge text costs no more than a short one.
    """
    words: list[str] = []
    for token in text[:200].split()[:count]:
        letters = []
        for character in token.lstrip(_OPENERS):
            if character in "'’":
                break
            if not character.isalpha():
                break
            letters.append(character)
        words.append("".join(letters).lower())
    return words
