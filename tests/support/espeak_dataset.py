"""Writes a small LJSpeech-format dataset spoken by espeak-ng, for training tests.

Real recordings cannot be downloaded in tests; espeak-ng's speech is consistent, so a model
trained on it for a few steps behaves like one trained on a person's recordings would (only
it sounds like espeak). Texts are written as users write them (numbers as digits): the
training recipe normalises them the way the service does before synthesis.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

CROATIAN_SENTENCES = (
    "Dobar dan, kako ste danas?",
    "Ovo je moj novi glas.",
    "Sunce sja nad morem.",
    "Imam 21 kunu u džepu.",
    "Čaša šećera je na stolu.",
    "Đak uči hrvatski jezik.",
    "Žuta kuća stoji uz cestu.",
    "Kiša pada cijeli dan.",
    "Volim čitati knjige.",
    "Grad je lijep u proljeće.",
    "Ptice pjevaju rano ujutro.",
    "Sutra idemo na izlet u 8:30.",
)


def write_espeak_dataset(root: Path, sentences: tuple[str, ...], voice: str = "hr") -> Path:
    """Speaks ``sentences`` with espeak-ng into ``root/wavs/`` and lists them in
    ``root/metadata.csv`` (``id|text``).

    Args:
        root: The dataset folder (created).
        sentences: What to say, one utterance each.
        voice: The espeak voice.

    Returns:
        ``root``.
    """
    from avatar_tts.engines.espeak import EspeakEngine

    engine = EspeakEngine()
    engine.load()
    (root / "wavs").mkdir(parents=True, exist_ok=True)
    lines = []
    for index, sentence in enumerate(sentences):
        identifier = f"utt{index:03d}"
        audio = np.concatenate([chunk.samples for chunk in engine.synthesize(sentence, voice)])
        with wave.open(str(root / "wavs" / f"{identifier}.wav"), "wb") as writer:
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(engine.sample_rate)
            writer.writeframes(audio.astype("<i2").tobytes())
        lines.append(f"{identifier}|{sentence}")
    (root / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root
