"""Which writing systems a voice can read, and a check that a text is written in them.

A voice reads the letters of its own language: an English voice given Chinese text would
spell each character as "Chinese letter", and Arabic as a list of letter names, which is
speech but not sense. So a text whose letters are mostly in a script the voice's language
does not use is refused with a message naming both, before any audio is made. Every voice
also reads Latin letters (names, brands and loanwords appear in any language); voices
whose language is not in :data:`LANGUAGE_SCRIPTS` read anything.
"""

from __future__ import annotations

import unicodedata

# Scripts named by the first word Unicode gives their letters ("CJK UNIFIED IDEOGRAPH-4F60").
# fmt: off
_SCRIPTS = frozenset({
    "LATIN", "CYRILLIC", "GREEK", "ARABIC", "HEBREW", "CJK", "HIRAGANA", "KATAKANA", "HANGUL",
    "BOPOMOFO", "DEVANAGARI", "BENGALI", "GURMUKHI", "GUJARATI", "TAMIL", "TELUGU", "KANNADA",
    "MALAYALAM", "SINHALA", "THAI", "LAO", "TIBETAN", "MYANMAR", "KHMER", "GEORGIAN",
    "ARMENIAN", "ETHIOPIC", "MONGOLIAN", "SYRIAC", "THAANA",
})
_SCRIPT_NAMES = {"CJK": "Chinese (Han)", "HANGUL": "Korean (Hangul)"}

_LATIN_LANGUAGES = [
    "af", "az", "bs", "br", "ca", "co", "cs", "cy", "da", "de", "en", "eo", "es", "et", "eu",
    "fi", "fil", "fr", "fy", "ga", "gd", "gl", "ha", "haw", "hr", "hu", "ia", "id", "io", "is",
    "it", "jbo", "la", "lb", "lt", "lv", "mi", "ms", "mt", "nb", "nl", "nn", "no", "oc", "pl",
    "pt", "qu", "ro", "sk", "sl", "so", "sq", "sv", "sw", "tk", "tl", "tr", "uz", "vi", "xh",
    "yo", "zu",
]
# fmt: on
LANGUAGE_SCRIPTS: dict[str, frozenset[str]] = {
    **{language: frozenset({"LATIN"}) for language in _LATIN_LANGUAGES},
    **dict.fromkeys(
        ("ru", "uk", "be", "bg", "mk", "kk", "ky", "tt", "ba", "cv"), frozenset({"CYRILLIC"})
    ),
    "sr": frozenset({"CYRILLIC", "LATIN"}),
    "mn": frozenset({"CYRILLIC", "MONGOLIAN"}),
    "el": frozenset({"GREEK"}),
    **dict.fromkeys(("ar", "fa", "ur", "ps", "ug", "sd"), frozenset({"ARABIC"})),
    **dict.fromkeys(("he", "yi"), frozenset({"HEBREW"})),
    **dict.fromkeys(("zh", "cmn", "yue", "hak"), frozenset({"CJK", "BOPOMOFO"})),
    "ja": frozenset({"CJK", "HIRAGANA", "KATAKANA"}),
    "ko": frozenset({"HANGUL", "CJK"}),
    **dict.fromkeys(("hi", "mr", "ne", "sa", "kok"), frozenset({"DEVANAGARI"})),
    **dict.fromkeys(("bn", "as"), frozenset({"BENGALI"})),
    "pa": frozenset({"GURMUKHI"}),
    "gu": frozenset({"GUJARATI"}),
    "ta": frozenset({"TAMIL"}),
    "te": frozenset({"TELUGU"}),
    "kn": frozenset({"KANNADA"}),
    "ml": frozenset({"MALAYALAM"}),
    "si": frozenset({"SINHALA"}),
    "th": frozenset({"THAI"}),
    "lo": frozenset({"LAO"}),
    "my": frozenset({"MYANMAR"}),
    "km": frozenset({"KHMER"}),
    "ka": frozenset({"GEORGIAN"}),
    "hy": frozenset({"ARMENIAN"}),
    **dict.fromkeys(("am", "ti"), frozenset({"ETHIOPIC"})),
}
"""Scripts of each language (BCP 47 primary subtag), besides Latin, which every voice reads."""


def script_of(character: str) -> str | None:
    """The script of a letter (e.g. ``"LATIN"``, ``"CJK"``), or None when unknown."""
    for word in unicodedata.name(character, "").split():
        if word in _SCRIPTS:
            return word
    return None


def script_problem(text: str, voice: str, language: str) -> str | None:
    """Says why ``voice`` cannot read ``text``, or returns None when it can.

    Args:
        text: The text to speak.
        voice: The voice's name, for the message.
        language: The voice's BCP 47 language tag.

    Returns:
        A message for the user when most letters of the text are in scripts the voice's
        language does not use; None otherwise (also for languages not in the table).
    """
    readable = LANGUAGE_SCRIPTS.get(language.split("-")[0].lower())
    if readable is None:
        return None
    readable = readable | {"LATIN"}
    counts: dict[str, int] = {}
    for character in text:
        if character.isalpha():
            script = script_of(character)
            if script is not None:
                counts[script] = counts.get(script, 0) + 1
    foreign = {script: count for script, count in counts.items() if script not in readable}
    if sum(foreign.values()) * 2 <= sum(counts.values()):
        return None
    main = max(foreign, key=foreign.__getitem__)
    return (
        f"voice {voice!r} ({language}) reads {_names(readable)} script, but the text is "
        f"mostly {_name(main)}; choose a voice for the text's language (see ListVoices)"
    )


def _name(script: str) -> str:
    return _SCRIPT_NAMES.get(script, script.title())


def _names(scripts: frozenset[str]) -> str:
    # The voice's own script first, Latin (read by every voice) last.
    ordered = sorted(scripts - {"LATIN"}) + (["LATIN"] if "LATIN" in scripts else [])
    return " or ".join(_name(script) for script in ordered)
