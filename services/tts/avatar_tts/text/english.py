"""English: numbers, ordinals, years, decimals, currency, percentages, times, units and
abbreviations as words.

Number words are written without hyphens ("twenty four"), so every engine and every word
splitter sees the same words.
"""

from __future__ import annotations

import re

from avatar_tts.text.normalize import Normalizer, Rule

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = (
    (10**12, "trillion"),
    (10**9, "billion"),
    (10**6, "million"),
    (10**3, "thousand"),
)
_IRREGULAR_ORDINALS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
_LARGEST = 10**15 - 1
# (symbol, main unit singular, plural, minor unit singular, plural)
_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "USD": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "EUR": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "GBP": ("pound", "pounds", "penny", "pence"),
    "¥": ("yen", "yen", "sen", "sen"),
}
_MAGNITUDES = {
    "k": "thousand",
    "thousand": "thousand",
    "m": "million",
    "mn": "million",
    "million": "million",
    "b": "billion",
    "bn": "billion",
    "billion": "billion",
    "trillion": "trillion",
}
_UNITS = {
    "km": ("kilometer", "kilometers"),
    "m": ("meter", "meters"),
    "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"),
    "kg": ("kilogram", "kilograms"),
    "g": ("gram", "grams"),
    "mg": ("milligram", "milligrams"),
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "mph": ("mile per hour", "miles per hour"),
    "ms": ("millisecond", "milliseconds"),
    "GB": ("gigabyte", "gigabytes"),
    "MB": ("megabyte", "megabytes"),
}
# Title abbreviations come before a name; the others may end a sentence.
_TITLES = {"Mr": "Mister", "Mrs": "Missus", "Ms": "Miz", "Prof": "Professor", "Jr": "Junior"}
_ABBREVIATIONS = {
    "etc": "et cetera",
    "vs": "versus",
    "approx": "approximately",
    "e.g": "for example",
    "i.e": "that is",
    "Sr": "Senior",
    "Jan": "January",
    "Feb": "February",
    "Aug": "August",
    "Sept": "September",
    "Oct": "October",
    "Nov": "November",
    "Dec": "December",
}

_INTEGER = r"\d{1,3}(?:,\d{3})+|\d+"
_NUMBER_START = r"(?<![\w.,])"


def cardinal(number: int) -> str:
    """Spells out a whole number, e.g. 1234 -> "one thousand two hundred thirty four".

    Numbers of 10**15 and more are read digit by digit.
    """
    if number < 0:
        return "minus " + cardinal(-number)
    if number > _LARGEST:
        return " ".join(_ONES[int(digit)] for digit in str(number))
    if number < 20:
        return _ONES[number]
    if number < 100:
        tens, ones = divmod(number, 10)
        return _TENS[tens] + (f" {_ONES[ones]}" if ones else "")
    if number < 1000:
        hundreds, rest = divmod(number, 100)
        return f"{_ONES[hundreds]} hundred" + (f" {cardinal(rest)}" if rest else "")
    for scale, name in _SCALES:
        if number >= scale:
            count, rest = divmod(number, scale)
            return f"{cardinal(count)} {name}" + (f" {cardinal(rest)}" if rest else "")
    raise AssertionError("unreachable")


def ordinal(number: int) -> str:
    """Spells out an ordinal, e.g. 23 -> "twenty third"."""
    words = cardinal(number).split(" ")
    last = words[-1]
    if last in _IRREGULAR_ORDINALS:
        words[-1] = _IRREGULAR_ORDINALS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def year(number: int) -> str:
    """Reads a year the way it is spoken.

    1984 -> "nineteen eighty four", 1905 -> "nineteen oh five", 1900 -> "nineteen hundred",
    2005 -> "two thousand five", 2024 -> "twenty twenty four".
    """
    if 2000 <= number <= 2009:
        return cardinal(number)
    century, rest = divmod(number, 100)
    if rest == 0:
        return f"{cardinal(century)} hundred"
    if rest < 10:
        return f"{cardinal(century)} oh {cardinal(rest)}"
    return f"{cardinal(century)} {cardinal(rest)}"


def digits(text: str) -> str:
    """Reads digits one by one, e.g. "05" -> "zero five"."""
    return " ".join(_ONES[int(digit)] for digit in text)


def _whole(text: str) -> int:
    return int(text.replace(",", ""))


def _decimal(whole: str, fraction: str | None) -> str:
    spoken = cardinal(_whole(whole))
    return f"{spoken} point {digits(fraction)}" if fraction else spoken


def _plural(count: int, singular: str, plural: str) -> str:
    return singular if count == 1 else plural


def _money(whole: str, fraction: str | None, magnitude: str | None, symbol: str) -> str:
    main, mains, minor, minors = _CURRENCIES[symbol]
    if magnitude:
        amount = _decimal(whole, fraction)
        return f"{amount} {_MAGNITUDES[magnitude.lower()]} {mains}"
    units = _whole(whole)
    cents = int(fraction.ljust(2, "0")) if fraction else 0
    parts = []
    if units or not cents:
        parts.append(f"{cardinal(units)} {_plural(units, main, mains)}")
    if cents:
        parts.append(f"{cardinal(cents)} {_plural(cents, minor, minors)}")
    return " and ".join(parts)


def _sentence_end(match: re.Match[str]) -> bool:
    """Whether the abbreviation's period also ends a sentence."""
    rest = match.string[match.end() :]
    return not rest.strip() or bool(re.match(r"\s+[A-Z]", rest))


def _currency_before(match: re.Match[str]) -> str:
    symbol, whole, fraction, magnitude = match.groups()
    return _money(whole, fraction, magnitude, symbol)


def _currency_after(match: re.Match[str]) -> str:
    whole, fraction, symbol = match.groups()
    return _money(whole, fraction, None, symbol)


def _percent(match: re.Match[str]) -> str:
    return f"{_decimal(match.group(1), match.group(2))} percent"


def _time(match: re.Match[str]) -> str | None:
    hours, minutes, meridiem = int(match.group(1)), int(match.group(2)), match.group(3)
    if meridiem and not 1 <= hours <= 12:
        return None
    if minutes == 0:
        # 24-hour times past noon read as "fourteen hundred"; others as "three o'clock".
        spoken = f"{cardinal(hours)} hundred" if hours > 12 else f"{cardinal(hours)} o'clock"
    elif minutes < 10:
        spoken = f"{cardinal(hours)} oh {cardinal(minutes)}"
    else:
        spoken = f"{cardinal(hours)} {cardinal(minutes)}"
    spoken += f" {meridiem.lower()} m" if meridiem else ""
    # "p.m." may also end the sentence: keep that period.
    return spoken + "." if match.group(0).endswith(".") and _sentence_end(match) else spoken


def _ordinal(match: re.Match[str]) -> str | None:
    number, suffix = _whole(match.group(1)), match.group(2).lower()
    expected = ordinal(number)[-2:]  # "st", "nd", "rd", "th"
    return ordinal(number) if expected == suffix else None


def _decade(match: re.Match[str]) -> str:
    spoken = year(int(match.group(1)))
    return spoken[:-1] + "ies" if spoken.endswith("y") else spoken + "s"


def _number(match: re.Match[str]) -> str:
    sign, whole, fraction, unit = match.groups()
    if fraction is None and "," not in whole and len(whole) == 4 and 1100 <= int(whole) <= 2099:
        spoken = year(int(whole))
    elif fraction is None and len(whole) > 1 and whole.startswith("0"):
        spoken = digits(whole)
    else:
        spoken = _decimal(whole, fraction)
    if sign:
        spoken = "minus " + spoken
    if unit:
        single = fraction is None and _whole(whole) == 1
        spoken += " " + _plural(1 if single else 2, *_UNITS[unit])
    return spoken


def _title(match: re.Match[str]) -> str:
    return _TITLES[match.group(1)]


def _doctor_or_saint(match: re.Match[str]) -> str:
    """ "Dr." before a name is "Doctor", else "Drive"; "St." after a name ("Baker St.") is
    "Street", before one ("St. Louis") "Saint"."""
    word = match.group(1)
    before_name = re.match(r"\s+[A-Z]", match.string[match.end() :]) is not None
    if word == "Dr":
        spoken = "Doctor" if before_name else "Drive"
    else:
        after_name = re.search(r"[A-Z]\w*\s+$", match.string[: match.start()]) is not None
        spoken = "Saint" if before_name and not after_name else "Street"
    if spoken in ("Drive", "Street") and (before_name or _sentence_end(match)):
        return spoken + "."  # a capital after it starts the next sentence
    return spoken


def _abbreviation(match: re.Match[str]) -> str:
    spoken = _ABBREVIATIONS[match.group(1)]
    return spoken + "." if _sentence_end(match) else spoken


def _number_sign(match: re.Match[str]) -> str:
    return "number"


_UNIT_NAMES = "|".join(re.escape(unit) for unit in sorted(_UNITS, key=len, reverse=True))
_SYMBOLS = "|".join(re.escape(symbol) for symbol in _CURRENCIES)

RULES = (
    Rule(
        re.compile(
            rf"(?<![\w])([$€£¥])\s?({_INTEGER})(?:\.(\d{{1,2}}))?"
            r"(?:\s?(thousand|million|billion|trillion|[kKmMbB]n?)\b)?"
        ),
        _currency_before,
    ),
    Rule(
        re.compile(rf"{_NUMBER_START}({_INTEGER})(?:\.(\d{{1,2}}))?\s?({_SYMBOLS})(?![\w])"),
        _currency_after,
    ),
    Rule(re.compile(rf"{_NUMBER_START}({_INTEGER})(?:\.(\d+))?\s?%"), _percent),
    Rule(
        re.compile(r"(?<![\w:])([01]?\d|2[0-3]):([0-5]\d)(?:\s?([aApP])\.?\s?[mM]\b\.?)?(?![\w:])"),
        _time,
    ),
    Rule(re.compile(rf"{_NUMBER_START}({_INTEGER})(st|nd|rd|th|ST|ND|RD|TH)\b"), _ordinal),
    Rule(re.compile(r"(?<![\w.,])(1[1-9]\d0|20\d0)s\b"), _decade),
    Rule(
        re.compile(
            rf"(?<![\w.,])(-)?({_INTEGER})(?:\.(\d+))?"
            rf"(?:\s?({_UNIT_NAMES})(?![\w/]))?(?![\w]|[.,]\d)"
        ),
        _number,
    ),
    Rule(re.compile(r"(?<![\w.])(Mr|Mrs|Ms|Prof|Jr)\.(?=\s)"), _title),
    Rule(re.compile(r"(?<![\w.])(Dr|St)\."), _doctor_or_saint),
    Rule(re.compile(r"(?<![\w.])No\.(?=\s?\d)"), _number_sign),
    Rule(
        re.compile(r"(?<![\w.])(etc|vs|approx|e\.g|i\.e|Sr|Jan|Feb|Aug|Sept|Oct|Nov|Dec)\."),
        _abbreviation,
    ),
    Rule(re.compile(r"(?<=\s)&(?=\s)"), lambda match: "and"),
)
"""The English rules, most specific first."""

NORMALIZER = Normalizer(RULES)
