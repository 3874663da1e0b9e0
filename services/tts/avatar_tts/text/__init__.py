"""Text preparation before synthesis: numbers, currency, times and abbreviations as words.

``normalize_text(text, language)`` picks the rules by the voice's language (its primary BCP 47
subtag): English (``en``, ``en-US``, ``en-GB``...) and Croatian (``hr``). Text in other
languages is returned unchanged (espeak-ng reads their numbers itself).
"""

from __future__ import annotations

from avatar_tts.text import croatian, english
from avatar_tts.text.normalize import (
    Expansion,
    NormalizedText,
    Normalizer,
    Rule,
    WordNamer,
)

_NORMALIZERS: dict[str, Normalizer] = {"en": english.NORMALIZER, "hr": croatian.NORMALIZER}

SUPPORTED_LANGUAGES = tuple(_NORMALIZERS)
"""Primary language subtags that have normalisation rules."""


def normalize_text(text: str, language: str) -> NormalizedText:
    """Spells out numbers, currency, times and abbreviations of ``text`` in ``language``.

    Args:
        text: Text as the user wrote it.
        language: BCP 47 tag of the voice, e.g. ``"en-US"``, ``"hr"``.

    Returns:
        The text to speak with the record of what was expanded; unchanged text for a
        language without rules.
    """
    normalizer = _NORMALIZERS.get(language.split("-")[0].lower())
    if normalizer is None:
        return NormalizedText(text, text)
    return normalizer.normalize(text)


__all__ = [
    "SUPPORTED_LANGUAGES",
    "Expansion",
    "NormalizedText",
    "Normalizer",
    "Rule",
    "WordNamer",
    "normalize_text",
]
