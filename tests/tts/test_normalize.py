"""Text normalisation: English and Croatian numbers, currency, times and abbreviations spoken
as words, and timed words named as the user wrote them."""

from __future__ import annotations

import pytest

from avatar_tts.engines.espeak import EspeakEngine
from avatar_tts.text import croatian, english, normalize_text
from avatar_tts.voices import VoiceRegistry


@pytest.mark.parametrize(
    ("number", "words"),
    [
        (0, "zero"),
        (13, "thirteen"),
        (42, "forty two"),
        (100, "one hundred"),
        (1234, "one thousand two hundred thirty four"),
        (1_000_001, "one million one"),
        (-7, "minus seven"),
    ],
)
def test_english_cardinals(number, words):
    assert english.cardinal(number) == words


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("I have 42 cats.", "I have forty two cats."),
        ("She was born in 1984.", "She was born in nineteen eighty four."),
        (
            "In 1905 and 2005 and 2024.",
            "In nineteen oh five and two thousand five and twenty twenty four.",
        ),
        ("The 1990s.", "The nineteen nineties."),
        ("Pi is 3.14 here", "Pi is three point one four here"),
        (
            "He won the 1st, 2nd, 3rd and 21st prizes.",
            "He won the first, second, third and twenty first prizes.",
        ),
        (
            "1,234,567 stars",
            "one million two hundred thirty four thousand five hundred sixty seven stars",
        ),
        ("It costs $5.50 now.", "It costs five dollars and fifty cents now."),
        ("Only $1 or $0.99!", "Only one dollar or ninety nine cents!"),
        ("A €2 million deal for £3.", "A two million euros deal for three pounds."),
        ("Up 12% or 2.5 %.", "Up twelve percent or two point five percent."),
        ("Meet at 3:30 pm or 9:05 am.", "Meet at three thirty p m or nine oh five a m."),
        ("At 7:00 or 14:00.", "At seven o'clock or fourteen hundred."),
        ("Run 5 km, lift 1 kg.", "Run five kilometers, lift one kilogram."),
        ("Dr. Smith met Mr. and Mrs. Jones.", "Doctor Smith met Mister and Missus Jones."),
        ("Cats, dogs, etc. are pets.", "Cats, dogs, et cetera are pets."),
        ("Cats, dogs, etc.", "Cats, dogs, et cetera."),
        ("Fruit, e.g. apples, i.e. food.", "Fruit, for example apples, that is food."),
        ("He lives on Baker St. Then he left.", "He lives on Baker Street. Then he left."),
        ("Agent 007 and room No. 5", "Agent zero zero seven and room number five"),
        ("Salt & pepper", "Salt and pepper"),
        ("Hi, how are you today?", "Hi, how are you today?"),
    ],
)
def test_english_text_is_spoken_as_words(text, spoken):
    assert normalize_text(text, "en-US").text == spoken


@pytest.mark.parametrize(
    ("number", "gender", "words"),
    [
        (0, "m", "nula"),
        (1, "m", "jedan"),
        (1, "f", "jedna"),
        (1, "n", "jedno"),
        (2, "f", "dvije"),
        (14, "m", "četrnaest"),
        (21, "f", "dvadeset jedna"),
        (99, "m", "devedeset devet"),
        (100, "m", "sto"),
        (200, "m", "dvjesto"),
        (456, "m", "četiristo pedeset šest"),
        (1000, "m", "tisuću"),
        (1984, "m", "tisuću devetsto osamdeset četiri"),
        (2000, "m", "dvije tisuće"),
        (5000, "m", "pet tisuća"),
        (12_000, "m", "dvanaest tisuća"),
        (21_000, "m", "dvadeset jedna tisuća"),
        (22_000, "m", "dvadeset dvije tisuće"),
        (1_000_000, "m", "milijun"),
        (2_000_000, "m", "dva milijuna"),
        (5_000_000, "m", "pet milijuna"),
        (2_000_000_000, "m", "dvije milijarde"),
        (7_000_000_000, "m", "sedam milijardi"),
    ],
)
def test_croatian_cardinals_take_the_right_forms(number, gender, words):
    assert croatian.cardinal(number, gender) == words


@pytest.mark.parametrize(
    ("number", "case", "words"),
    [
        (1, "nominative", "prvi"),
        (3, "nominative", "treći"),
        (21, "nominative", "dvadeset prvi"),
        (100, "nominative", "stoti"),
        (3, "genitive", "trećeg"),
        (5, "genitive", "petog"),
        (1984, "feminine_genitive", "tisuću devetsto osamdeset četvrte"),
        (2000, "feminine_genitive", "dvijetisućite"),
        (2024, "feminine_genitive", "dvije tisuće dvadeset četvrte"),
    ],
)
def test_croatian_ordinals(number, case, words):
    assert croatian.ordinal(number, case) == words


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("Dobar dan, kako ste danas?", "Dobar dan, kako ste danas?"),
        ("Imam 5 jabuka.", "Imam pet jabuka."),
        ("Kupio je 1 kuću i 2 kune, 2 stola.", "Kupio je jednu kuću i dvije kune, dva stola."),
        ("Ima 1.000.000 ljudi.", "Ima milijun ljudi."),
        ("Stoji 2,50 € ili 5 eura.", "Stoji dva eura i pedeset centi ili pet eura."),
        ("Platio je 21 €.", "Platio je dvadeset jedan euro."),
        ("Samo 3 kn.", "Samo tri kune."),
        ("Porast od 25 % i 2,5 %.", "Porast od dvadeset pet posto i dvije cijele pet posto."),
        ("Broj 3,14 je pi.", "Broj tri cijele četrnaest je pi."),
        ("Dođi u 8:00 ili u 14:30.", "Dođi u osam sati ili u četrnaest i trideset."),
        ("Bio je 5. na utrci.", "Bio je peti na utrci."),
        (
            "Rođen je 3. svibnja 1984. u Zagrebu.",
            "Rođen je trećeg svibnja tisuću devetsto osamdeset četvrte u Zagrebu.",
        ),
        ("To je bilo 2024. godine.", "To je bilo dvije tisuće dvadeset četvrte godine."),
        ("Hodao je 3 km i 1 min.", "Hodao je tri kilometra i jedna minuta."),
        (
            "Dr. Horvat je npr. došao, tj. stigao itd.",
            "Doktor Horvat je na primjer došao, to jest stigao i tako dalje.",
        ),
    ],
)
def test_croatian_text_is_spoken_as_words(text, spoken):
    assert normalize_text(text, "hr").text == spoken


def test_languages_without_rules_are_left_alone():
    assert normalize_text("Ich habe 3 Katzen.", "de").text == "Ich habe 3 Katzen."


def test_expansions_record_where_each_token_went():
    normalized = normalize_text("Pay $5 at 3:30 pm today.", "en")
    spans = [(e.original, normalized.text[e.start : e.end]) for e in normalized.expansions]
    assert spans == [("$5", "five dollars"), ("3:30 pm", "three thirty p m")]


@pytest.fixture(scope="module")
def registry() -> VoiceRegistry:
    registry = VoiceRegistry([EspeakEngine()], "en-us", 500)
    registry.load()
    return registry


@pytest.mark.parametrize(
    ("text", "voice", "words"),
    [
        (
            "Dr. Smith paid $5.50 on May 3rd, 1984.",
            "en-us",
            ["Dr.", "Smith", "paid", "$5.50", "on", "May", "3rd", "1984"],
        ),
        (
            "Rođen je 3. svibnja 1984. i ima 21 kunu.",
            "hr",
            ["Rođen", "je", "3.", "svibnja", "1984.", "i", "ima", "21", "kunu"],
        ),
    ],
)
def test_timed_words_are_named_as_written(registry, text, voice, words):
    chunks = list(registry.synthesize(text, voice))
    timed = [word for chunk in chunks for word in chunk.words]
    assert [word.text for word in timed] == words
    duration = sum(len(chunk.samples) for chunk in chunks) / 22050
    for before, after in zip(timed, timed[1:], strict=False):
        assert before.start_seconds < before.end_seconds <= after.start_seconds + 1e-9
    assert timed[-1].end_seconds <= duration
    # An expanded token spans all its spoken words: "$5.50" is five of them.
    longest = max(timed, key=lambda word: word.end_seconds - word.start_seconds)
    assert longest.text in ("$5.50", "1984.")


def test_spoken_numbers_sound_like_the_words(registry):
    def symbols(text: str) -> list[str]:
        return [p.symbol for c in registry.synthesize(text, "hr") for p in c.phonemes]

    assert symbols("Imam 21 kunu.") == symbols("Imam dvadeset jednu kunu.")


def test_normalisation_can_be_turned_off():
    raw = VoiceRegistry([EspeakEngine()], "en-us", 500, normalize=False)
    raw.load()
    words = [w.text for c in raw.synthesize("I paid $5.", "en-us") for w in c.words]
    assert "$5" not in words  # espeak reads the symbol and the digit as it likes


def test_closing_a_normalised_stream_early_stops_the_engine(registry):
    stream = registry.synthesize("It is 1984. " * 40, "en-us")
    next(stream)
    stream.close()
    assert [w.text for c in registry.synthesize("At 5 pm.", "en-us") for w in c.words] == [
        "At",
        "5",
        "pm",
    ]
