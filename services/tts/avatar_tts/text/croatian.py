"""Croatian: numbers, ordinals, decimals, currency, percentages, times, units and
abbreviations as words, with the forms Croatian grammar asks for.

Cardinals agree in gender where Croatian marks it (jedan / jedna / jedno, dva / dvije), and
counted nouns take the form the number governs: 1, 21, 101 ... the nominative singular
("jedan euro"), 2-4, 22-24 ... the paucal ("dva eura", "dvije kune"), the rest and 11-14 the
genitive plural ("pet eura", "dvanaest kuna"). Thousands are feminine (dvije tisuće),
millions masculine (dva milijuna), milliards feminine (dvije milijarde).

Written conventions: a decimal comma ("3,5") and thousands dots ("1.000.000"); an ordinal is a
number with a period followed by a lower-case word ("5. mjesto", "3. svibnja").
"""

from __future__ import annotations

import re

from avatar_tts.text.normalize import Normalizer, Rule

_UNDER_TWENTY = [
    "nula",
    "jedan",
    "dva",
    "tri",
    "četiri",
    "pet",
    "šest",
    "sedam",
    "osam",
    "devet",
    "deset",
    "jedanaest",
    "dvanaest",
    "trinaest",
    "četrnaest",
    "petnaest",
    "šesnaest",
    "sedamnaest",
    "osamnaest",
    "devetnaest",
]
_TENS = [
    "_",
    "_",
    "dvadeset",
    "trideset",
    "četrdeset",
    "pedeset",
    "šezdeset",
    "sedamdeset",
    "osamdeset",
    "devedeset",
]
_HUNDREDS = [
    "_",
    "sto",
    "dvjesto",
    "tristo",
    "četiristo",
    "petsto",
    "šesto",
    "sedamsto",
    "osamsto",
    "devetsto",
]
# Forms of a final 1 and 2 by the gender (and case) of what is counted; "fa" is the
# feminine accusative ("imam jednu kunu").
_GENDERED = {
    "m": {},
    "f": {1: "jedna", 2: "dvije"},
    "fa": {1: "jednu", 2: "dvije"},
    "n": {1: "jedno", 2: "dva"},
}
# (value, gender of the scale word, its forms after 1 / 2-4 / 5+)
_SCALES = (
    (10**9, "f", ("milijarda", "milijarde", "milijardi")),
    (10**6, "m", ("milijun", "milijuna", "milijuna")),
    (10**3, "f", ("tisuća", "tisuće", "tisuća")),
)
_LARGEST = 10**12 - 1
_UNIT_ORDINAL_STEMS = ["_", "prv", "drug", "treć", "četvrt", "pet", "šest", "sedm", "osm", "devet"]
_HUNDRED_ORDINAL_STEMS = [
    "_",
    "stot",
    "dvjestot",
    "tristot",
    "četiristot",
    "petstot",
    "šeststot",
    "sedamstot",
    "osamstot",
    "devetstot",
]
_MONTHS_GENITIVE = [
    "siječnja",
    "veljače",
    "ožujka",
    "travnja",
    "svibnja",
    "lipnja",
    "srpnja",
    "kolovoza",
    "rujna",
    "listopada",
    "studenoga",
    "studenog",
    "prosinca",
]
# Currency: (gender, main unit forms, minor unit gender, minor unit forms).
_EURO = ("m", ("euro", "eura", "eura"), "m", ("cent", "centa", "centi"))
_KUNA = ("f", ("kuna", "kune", "kuna"), "f", ("lipa", "lipe", "lipa"))
_DOLLAR = ("m", ("dolar", "dolara", "dolara"), "m", ("cent", "centa", "centi"))
_CURRENCIES = {"€": _EURO, "EUR": _EURO, "kn": _KUNA, "HRK": _KUNA, "$": _DOLLAR, "USD": _DOLLAR}
_UNITS = {
    "km": ("m", ("kilometar", "kilometra", "kilometara")),
    "m": ("m", ("metar", "metra", "metara")),
    "cm": ("m", ("centimetar", "centimetra", "centimetara")),
    "mm": ("m", ("milimetar", "milimetra", "milimetara")),
    "kg": ("m", ("kilogram", "kilograma", "kilograma")),
    "g": ("m", ("gram", "grama", "grama")),
    "km/h": ("m", ("kilometar na sat", "kilometra na sat", "kilometara na sat")),
    "min": ("f", ("minuta", "minute", "minuta")),
    "h": ("m", ("sat", "sata", "sati")),
}
_TITLES = {"dr": "doktor", "prof": "profesor", "mr": "magistar", "ing": "inženjer"}
_ABBREVIATIONS = {
    "npr": "na primjer",
    "itd": "i tako dalje",
    "tj": "to jest",
    "tzv": "takozvani",
    "sv": "sveti",
    "br": "broj",
    "god": "godine",
    "str": "stranica",
    "ul": "ulica",
    "sl": "slično",
    "čl": "članak",
}

_INTEGER = r"\d{1,3}(?:\.\d{3})+(?!\d)|\d+"
_NUMBER_START = r"(?<![\w.,])"
_LOWER_WORD = r"(?=\s+[a-zčćđšž])"


def count_form(number: int, forms: tuple[str, str, str]) -> str:
    """The noun form a count governs: forms for 1, for 2-4, for 5 and more (and 11-14)."""
    if 11 <= number % 100 <= 14:
        return forms[2]
    if number % 10 == 1:
        return forms[0]
    if 2 <= number % 10 <= 4:
        return forms[1]
    return forms[2]


def cardinal(number: int, gender: str = "m") -> str:
    """Spells out a whole number, e.g. 1984 -> "tisuću devetsto osamdeset četiri".

    Args:
        number: The number; 10**12 and more are read digit by digit.
        gender: ``"m"``, ``"f"`` or ``"n"``: the gender of what is counted, which decides
            the forms of a final 1 or 2 ("dvadeset jedna kuna").
    """
    if number < 0:
        return "minus " + cardinal(-number, gender)
    if number > _LARGEST:
        return " ".join(_UNDER_TWENTY[int(digit)] for digit in str(number))
    if number < 1000:
        return _below_thousand(number, gender) if number else _UNDER_TWENTY[0]
    for scale, scale_gender, forms in _SCALES:
        if number >= scale:
            count, rest = divmod(number, scale)
            if count == 1:
                # "tisuću" and "milijun", "milijarda": the count is not spoken.
                head = "tisuću" if scale == 1000 else forms[0]
            else:
                head = f"{cardinal(count, scale_gender)} {count_form(count, forms)}"
            return head + (f" {cardinal(rest, gender)}" if rest else "")
    raise AssertionError("unreachable")


def _below_thousand(number: int, gender: str) -> str:
    hundreds, rest = divmod(number, 100)
    words = [_HUNDREDS[hundreds]] if hundreds else []
    if rest >= 20:
        tens, rest = divmod(rest, 10)
        words.append(_TENS[tens])
    if rest:
        words.append(_GENDERED[gender].get(rest, _UNDER_TWENTY[rest]))
    return " ".join(words)


def ordinal(number: int, case: str = "nominative") -> str:
    """Spells out an ordinal: only the last part takes the ordinal form ("dvadeset prvi").

    Args:
        number: A positive whole number.
        case: ``"nominative"`` (masculine: "peti"), ``"genitive"`` (masculine: "petog",
            as in dates "5. svibnja") or ``"feminine_genitive"`` ("pete", as in
            "2024. godine").
    """
    stem, prefix = _ordinal_stem(number)
    if case == "feminine_genitive":
        ending = "e"
    elif case == "genitive":
        ending = "eg" if stem[-1] in "čćđjšžc" else "og"
    else:
        ending = "i"
    head = cardinal(prefix) + " " if prefix else ""
    return head + stem + ending


def _ordinal_stem(number: int) -> tuple[str, int]:
    """The ordinal stem of the number's last part and the cardinal part before it."""
    rest = number % 100
    if rest:
        if rest < 10 or rest % 10 and rest > 20:
            unit = rest % 10
            return _UNIT_ORDINAL_STEMS[unit], number - unit
        return (_UNDER_TWENTY[rest] if rest < 20 else _TENS[rest // 10]), number - rest
    hundreds = number % 1000
    if hundreds:
        return _HUNDRED_ORDINAL_STEMS[hundreds // 100], number - hundreds
    thousands = (number % 10**6) // 1000
    if thousands:
        joined = "" if thousands == 1 else cardinal(thousands, "f").replace(" ", "")
        return joined + "tisućit", number - thousands * 1000
    millions = number // 10**6
    joined = "" if millions == 1 else cardinal(millions).replace(" ", "")
    return joined + "milijunt", number % 10**6


def _whole(text: str) -> int:
    return int(text.replace(".", ""))


def _decimal(whole: str, fraction: str | None, gender: str = "m") -> str:
    """Reads "3,14" as "tri cijela četrnaest" (the whole part counts "cijela", feminine)."""
    if not fraction:
        return cardinal(_whole(whole), gender)
    units = _whole(whole)
    cijela = count_form(units, ("cijela", "cijele", "cijelih"))
    leading_zeros = len(fraction) - len(fraction.lstrip("0"))
    zeros = " ".join(["nula"] * leading_zeros)
    tail = cardinal(int(fraction)) if fraction.strip("0") else ""
    spoken_fraction = " ".join(part for part in (zeros, tail) if part)
    return f"{cardinal(units, 'f')} {cijela} {spoken_fraction}"


def _money(whole: str, fraction: str | None, symbol: str) -> str:
    gender, forms, minor_gender, minor_forms = _CURRENCIES[symbol]
    units = _whole(whole)
    cents = int(fraction.ljust(2, "0")) if fraction else 0
    parts = []
    if units or not cents:
        parts.append(f"{cardinal(units, gender)} {count_form(units, forms)}")
    if cents:
        parts.append(f"{cardinal(cents, minor_gender)} {count_form(cents, minor_forms)}")
    return " i ".join(parts)


def _sentence_end(match: re.Match[str]) -> bool:
    rest = match.string[match.end() :]
    return not rest.strip() or bool(re.match(r"\s+[A-ZČĆĐŠŽ]", rest))


def _currency_before(match: re.Match[str]) -> str:
    symbol, whole, fraction = match.groups()
    return _money(whole, fraction, symbol)


def _currency_after(match: re.Match[str]) -> str:
    whole, fraction, symbol = match.groups()
    return _money(whole, fraction, symbol)


def _percent(match: re.Match[str]) -> str:
    return f"{_decimal(match.group(1), match.group(2))} posto"


def _time(match: re.Match[str]) -> str:
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes == 0:
        return f"{cardinal(hours)} {count_form(hours, ('sat', 'sata', 'sati'))}"
    spoken_minutes = f"nula {cardinal(minutes)}" if minutes < 10 else cardinal(minutes)
    return f"{cardinal(hours)} i {spoken_minutes}"


def _ordinal(match: re.Match[str]) -> str:
    number, following = _whole(match.group(1)), match.group(2).lower()
    if following.startswith("godin"):
        return ordinal(number, "feminine_genitive")
    if following in _MONTHS_GENITIVE:
        return ordinal(number, "genitive")
    return ordinal(number)


def _year_after_month(match: re.Match[str]) -> str | None:
    """Reads "3. svibnja 2024." as "... dvije tisuće dvadeset četvrte" (of the year)."""
    if not _AFTER_MONTH.search(match.string, 0, match.start()):
        return None
    spoken = ordinal(int(match.group(1)), "feminine_genitive")
    return spoken + "." if _sentence_end(match) else spoken


def _number(match: re.Match[str]) -> str:
    sign, whole, fraction, unit = match.groups()
    if unit:
        gender, forms = _UNITS[unit]
    else:
        gender, forms = _gender_of_next_word(match), None
    spoken = _decimal(whole, fraction, gender)
    if sign:
        spoken = "minus " + spoken
    if forms:
        # A decimal count takes the genitive singular: "2,5 kilometra".
        spoken += " " + (forms[1] if fraction else count_form(_whole(whole), forms))
    return spoken


def _gender_of_next_word(match: re.Match[str]) -> str:
    """Guesses the gender of the counted word from its ending, which is what decides
    between "jedan / jedna / jednu / jedno" and "dva / dvije".

    After 1 the noun agrees in case: "-a" is a feminine nominative (jedna kuna), "-u" a
    feminine accusative (jednu kunu), "-o" / "-e" a neuter (jedno selo); after 2-4 a
    feminine noun ends in "-e" (dvije kune, dvije tisuće), a masculine or neuter one in "-a".
    """
    following = re.match(r"\s+([a-zčćđšž]+)", match.string[match.end() :])
    if following is None:
        return "m"
    ending = following.group(1)[-1]
    last_digit = int(match.group(2)[-1])
    if last_digit == 1:
        return {"a": "f", "u": "fa", "o": "n", "e": "n"}.get(ending, "m")
    return "f" if last_digit == 2 and ending == "e" else "m"


def _title(match: re.Match[str]) -> str:
    spoken = _TITLES[match.group(1).lower()]
    return spoken.capitalize() if match.group(1)[0].isupper() else spoken


def _abbreviation(match: re.Match[str]) -> str:
    spoken = _ABBREVIATIONS[match.group(1).lower()]
    return spoken + "." if _sentence_end(match) else spoken


_UNIT_NAMES = "|".join(re.escape(unit) for unit in sorted(_UNITS, key=len, reverse=True))
_SYMBOLS = "|".join(re.escape(symbol) for symbol in _CURRENCIES)
_AFTER_MONTH = re.compile(rf"\b(?:{'|'.join(_MONTHS_GENITIVE)})\s+$")

RULES = (
    Rule(re.compile(rf"(?<![\w])([€$])\s?({_INTEGER})(?:,(\d{{1,2}}))?(?![\d])"), _currency_before),
    Rule(
        re.compile(rf"{_NUMBER_START}({_INTEGER})(?:,(\d{{1,2}}))?\s?({_SYMBOLS})(?![\w])"),
        _currency_after,
    ),
    Rule(re.compile(rf"{_NUMBER_START}({_INTEGER})(?:,(\d+))?\s?%"), _percent),
    Rule(re.compile(r"(?<![\w:])([01]?\d|2[0-3]):([0-5]\d)(?![\w:])"), _time),
    Rule(re.compile(r"(?<![\w.,])(1\d\d\d|2\d\d\d)\."), _year_after_month),
    Rule(
        re.compile(rf"{_NUMBER_START}({_INTEGER})\.(?=\s+([a-zčćđšž]+))"),
        _ordinal,
    ),
    Rule(
        re.compile(
            rf"(?<![\w.,])(-)?({_INTEGER})(?:,(\d+))?"
            rf"(?:\s?({_UNIT_NAMES})(?![\w/]))?(?![\w]|,\d)"
        ),
        _number,
    ),
    Rule(re.compile(r"(?<![\w.])([Dd]r|[Pp]rof|[Mm]r|[Ii]ng)\.(?=\s)"), _title),
    Rule(
        re.compile(rf"(?<![\w.])({'|'.join(_ABBREVIATIONS)})\.", re.IGNORECASE),
        _abbreviation,
    ),
)
"""The Croatian rules, most specific first."""

NORMALIZER = Normalizer(RULES)
