"""The hibari engine: a neural English voice whose weights ship inside the ``hibari-tts`` wheel.

``hibari-tts`` (Apache-2.0) carries "heart", a 7.9 MB ONNX model distilled from Kokoro-82M's
``af_heart`` voice, with its own grapheme-to-phoneme reader (misaki's lexicons and rules, an
out-of-vocabulary net) and the signal processing that turns the model's spectra into 24 kHz
audio. Its API returns no durations, but its graph computes them: the ``Round -> Clip`` node
gives every input phoneme a whole number of 600-sample units (two 12.5 ms frames), and those
units add up to the audio. That tensor is exposed as an extra output when the voice loads
(:mod:`~avatar_tts.engines.onnx_graph`), so every phoneme is timed by the model itself.

The model's phonemes are Kokoro's: IPA plus capital letters for diphthongs (``A`` = eɪ,
``I`` = aɪ, ``O`` = oʊ...) and a few symbols of its own; the timing track spells them in
plain IPA (:data:`KOKORO_TO_IPA`), like the other engines.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from avatar_tts.engines.coqui_timing import TokenDuration
from avatar_tts.engines.neural import (
    NeuralEngine,
    Sentence,
    SpokenPiece,
    float_to_int16,
    sentence_pieces,
)
from avatar_tts.engines.onnx_graph import (
    OnnxModelError,
    consumer_of,
    inference_session,
    nodes_of,
    read_model,
    with_extra_outputs,
)

ENGINE_NAME = "hibari"
SAMPLE_RATE = 24_000
SAMPLES_PER_UNIT = 600
"""Audio samples per unit of the duration node (two frames of the model's 300-sample hop)."""
LEADING_UNITS_KEPT = 5
"""Units of the model's leading pad kept (125 ms; the model gives it about 0.3 s, of which the
last 50-75 ms already sound the first phoneme; the boundary is then fitted to the audio)."""
LEAD_UNITS = 1
"""How far (units, 25 ms) the audio runs ahead of the durations, as measured on speech: the
decoder sounds each phoneme about one unit before its durations say."""
_PAD = "<pad>"
_INPUTS = ("ids", "speed")
_SPECTRUM_OUTPUTS = 6  # lh, theta, ln, lr, phi, f0: what hibari.dsp.synth takes

KOKORO_TO_IPA: dict[str, str] = {
    "A": "eɪ",
    "I": "aɪ",
    "O": "oʊ",
    "Q": "əʊ",
    "W": "aʊ",
    "Y": "ɔɪ",
    "ʤ": "dʒ",
    "ʧ": "tʃ",
    "ᵊ": "ə",
    "ᵻ": "ɪ",
}
"""Kokoro's own phoneme symbols in IPA; every other symbol of its vocabulary is IPA already."""


@dataclass(frozen=True, slots=True)
class HibariVoiceSpec:
    """A hibari voice offered under a name.

    Attributes:
        name: Name requests use, e.g. ``"heart"``.
        voice: hibari's voice name (``"heart"`` is inside the wheel; others must be in
            hibari's cache, ``HIBARI_HOME``: the service never downloads).
        model_path: Another ONNX file of the same architecture instead of the voice's own.
        language: BCP 47 tag.
        description: Human-readable description.
    """

    name: str
    voice: str = "heart"
    model_path: str = ""
    language: str = "en-US"
    description: str = ""


@dataclass(slots=True)
class _LoadedHibari:
    spec: HibariVoiceSpec
    session: Any
    vocabulary: dict[str, int]
    reader: Any  # hibari's G2P: text -> phoneme string
    reader_lock: threading.Lock


class HibariEngine(NeuralEngine):
    """hibari voices run with ONNX Runtime, timed by the model's duration node.

    Args:
        voices: The voices to offer.
        threads: ONNX Runtime threads per voice.
        first_chunk_seconds: Most audio in the first chunk.
        chunk_seconds: Most audio in every later chunk.
    """

    engine_name = ENGINE_NAME
    special_tokens = frozenset({_PAD})

    def __init__(
        self,
        voices: list[HibariVoiceSpec],
        *,
        threads: int = 1,
        first_chunk_seconds: float = 0.1,
        chunk_seconds: float = 0.5,
    ) -> None:
        super().__init__(
            voices, first_chunk_seconds=first_chunk_seconds, chunk_seconds=chunk_seconds
        )
        self._threads = threads
        self._readers: dict[bool, Any] = {}

    def _sample_rate(self, spec: Any, voice: Any | None) -> int:
        return SAMPLE_RATE

    def _load_voice(self, spec: HibariVoiceSpec) -> _LoadedHibari:
        try:
            import hibari.g2p
            import hibari.voices
        except ImportError as error:
            raise OnnxModelError("hibari-tts is not installed: pip install hibari-tts") from error
        if spec.voice not in hibari.voices.VOICES:
            raise ValueError(
                f"hibari has no voice {spec.voice!r}; its voices: {', '.join(hibari.voices.VOICES)}"
            )
        path = spec.model_path or _voice_file(spec.voice)
        model = read_model(path)
        durations = _duration_tensor(model, path)
        session = inference_session(with_extra_outputs(model, [durations]), self._threads, path)
        inputs = [i.name for i in session.get_inputs()]
        outputs = [o.name for o in session.get_outputs()]
        if tuple(inputs) != _INPUTS or len(outputs) != _SPECTRUM_OUTPUTS + 1:
            raise OnnxModelError(
                f"{path} is not a hibari model: inputs {inputs}, outputs {outputs} (expected "
                f"inputs {list(_INPUTS)} and {_SPECTRUM_OUTPUTS} spectrum outputs)"
            )
        vocabulary_path = Path(hibari.voices.ASSETS) / "vocab.json"
        vocabulary = json.loads(vocabulary_path.read_text(encoding="utf-8"))
        british = bool(hibari.voices.VOICES[spec.voice].get("british"))
        if british not in self._readers:
            self._readers[british] = hibari.g2p.G2P(british=british)
        return _LoadedHibari(spec, session, vocabulary, self._readers[british], threading.Lock())

    def _sentences(self, voice: _LoadedHibari, text: str) -> Iterator[Sentence]:
        from hibari.tts import Hibari

        first = True
        for sentence in Hibari.split_sentences(text):
            # hibari's reader is plain Python with caches, not known to be thread-safe.
            with voice.reader_lock:
                phonemes = voice.reader(sentence)
            if not phonemes or not phonemes.strip():
                continue
            yield Sentence(sentence, sentence_pieces(phonemes, first))
            first = False

    def _speak(self, voice: _LoadedHibari, phonemes: str) -> SpokenPiece:
        from hibari import dsp

        symbols = [symbol for symbol in phonemes if symbol in voice.vocabulary]
        seconds_per_unit = SAMPLES_PER_UNIT / SAMPLE_RATE
        if not symbols:
            return SpokenPiece(np.zeros(0, np.int16), [], seconds_per_unit)
        ids = np.asarray([[0, *(voice.vocabulary[s] for s in symbols), 0]], np.int64)
        outputs = voice.session.run(None, {"ids": ids, "speed": np.ones(1, np.float32)})
        units = np.asarray(outputs[_SPECTRUM_OUTPUTS]).reshape(-1)
        if len(units) != ids.shape[1]:
            raise OnnxModelError(
                f"the duration node gave {len(units)} durations for {ids.shape[1]} phonemes"
            )
        # A fixed seed: the same text gives the same audio (hibari's noise is random).
        spectra = [np.asarray(output)[0] for output in outputs[:_SPECTRUM_OUTPUTS]]
        wave = dsp.synth(*spectra, np.random.default_rng(0))
        # Trust the audio's length over the unit size: a variant model may use another hop.
        seconds_per_unit = len(wave) / SAMPLE_RATE / max(float(units.sum()), 1.0)
        kept = min(float(units[0]), LEADING_UNITS_KEPT)
        cut = round((float(units[0]) - kept) * seconds_per_unit * SAMPLE_RATE)
        frames = [kept, *(float(unit) for unit in units[1:])]
        lead = min(frames[0], LEAD_UNITS)
        frames[0] -= lead
        frames[-1] += lead
        names = [_PAD, *(KOKORO_TO_IPA.get(s, s) for s in symbols), _PAD]
        tokens = [TokenDuration(n, f) for n, f in zip(names, frames, strict=True)]
        return SpokenPiece(float_to_int16(wave[cut:]), tokens, seconds_per_unit)


def _voice_file(voice: str) -> str:
    import hibari.voices

    try:
        return hibari.voices.voice_path(voice, download_missing=False)
    except FileNotFoundError as error:
        raise OnnxModelError(
            f"hibari voice {voice!r} is not in the wheel and not in hibari's cache "
            f"({error}); the service never downloads: fetch it once with "
            f"`hibari --voice {voice}` or point the voice at a model file"
        ) from error


def _duration_tensor(model: bytes, path: str) -> str:
    """The name of the graph's rounded and clipped per-phoneme durations.

    Raises:
        OnnxModelError: The graph has no ``Round -> Clip`` node.
    """
    nodes = nodes_of(model, path)
    for node in nodes:
        if node.op_type == "Round" and node.outputs:
            clip = consumer_of(nodes, node.outputs[0], "Clip")
            if clip is not None and clip.outputs:
                return clip.outputs[0]
    raise OnnxModelError(f"{path} has no duration node (Round -> Clip): not a hibari model")
