"""Visemes for the neural voice's phoneme vocabulary: Kokoro's symbols, stress marks, pauses."""

from __future__ import annotations

import pytest

from avatar_animator.visemes import Viseme, visemes_for_symbol
from avatar_tts.engines.hibari import KOKORO_TO_IPA


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [
        ("A", (Viseme.E, Viseme.IH)),  # eɪ
        ("I", (Viseme.AA, Viseme.IH)),  # aɪ
        ("ˈO", (Viseme.OH, Viseme.OU)),  # oʊ, stressed
        ("W", (Viseme.AA, Viseme.OU)),  # aʊ
        ("Y", (Viseme.OH, Viseme.IH)),  # ɔɪ
        ("ʤ", (Viseme.CH,)),
        ("ʧ", (Viseme.CH,)),
        ("ᵊ", (Viseme.E,)),
        ("ᵻ", (Viseme.IH,)),
        ("ɾ", (Viseme.DD,)),  # the flapped t of "better"
        ("ʔ", (None,)),  # a glottal stop takes its neighbours' shape
        ("_", (Viseme.SIL,)),
        ("ˌm", (Viseme.PP,)),
    ],
)
def test_kokoro_symbols_map_to_the_visemes_of_the_sounds_they_stand_for(symbol, expected):
    assert visemes_for_symbol(symbol) == expected


def test_every_kokoro_symbol_reads_as_its_ipa_spelling():
    for kokoro, ipa in KOKORO_TO_IPA.items():
        assert visemes_for_symbol(kokoro) == visemes_for_symbol(ipa), kokoro
