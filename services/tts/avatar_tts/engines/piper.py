"""The piper engine: any Piper-format VITS voice (``.onnx`` + ``.onnx.json``), run here.

Text becomes IPA phonemes through the espeak-ng library the espeak engine already loads
(``espeak_TextToPhonemes``, clause by clause, each clause's punctuation kept as Piper voices
were trained with it), then model ids through the voice's ``phoneme_id_map``, with a pad
between phonemes. ONNX Runtime runs the model with the voice's noise and length scales (and
speaker id for multi-speaker voices).

VITS computes each input id's duration in frames (``w_ceil = ceil(exp(logw) * length_scale)``,
the graph's ``Ceil`` node) and expands the phonemes by it; that tensor, exposed as an extra
graph output when the voice loads, times every phoneme exactly: the frames add up to the
audio. This is the service's own runner; the ``piper-tts`` package is not used.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from avatar_tts.engines.coqui_timing import TokenDuration
from avatar_tts.engines.espeak_library import EspeakLibrary, EspeakLibraryError, shared_library
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
from avatar_tts.engines.piper_voice import (
    BOS,
    EOS,
    PAD,
    PiperVoiceConfig,
    PiperVoiceSpec,
    phoneme_ids,
    read_config,
    voice_files,
)

ENGINE_NAME = "piper"
_REQUIRED_INPUTS = frozenset({"input", "input_lengths", "scales"})
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"”’)\]]*\s+")
# After these clause marks Piper's phonemizer puts a space (after . ? ! the sentence ends).
_SPACED_PUNCTUATION = ",:;"


@dataclass(slots=True)
class _LoadedPiper:
    spec: PiperVoiceSpec
    config: PiperVoiceConfig
    session: Any
    takes_speaker: bool
    library: EspeakLibrary


class PiperEngine(NeuralEngine):
    """Piper voices run with ONNX Runtime, timed by the model's own durations.

    Args:
        voices: The voices to offer.
        threads: ONNX Runtime threads per voice.
        first_chunk_seconds: Most audio in the first chunk.
        chunk_seconds: Most audio in every later chunk.
        espeak_library_path: Path of ``libespeak-ng``; the ``espeakng_loader`` wheel's by default.
        espeak_data_path: Path of ``espeak-ng-data``; the wheel's by default.
    """

    engine_name = ENGINE_NAME
    special_tokens = frozenset({PAD, BOS, EOS})

    def __init__(
        self,
        voices: list[PiperVoiceSpec],
        *,
        threads: int = 1,
        first_chunk_seconds: float = 0.1,
        chunk_seconds: float = 0.5,
        espeak_library_path: str | None = None,
        espeak_data_path: str | None = None,
    ) -> None:
        super().__init__(
            voices, first_chunk_seconds=first_chunk_seconds, chunk_seconds=chunk_seconds
        )
        self._threads = threads
        self._espeak_paths = (espeak_library_path, espeak_data_path)

    def _sample_rate(self, spec: Any, voice: _LoadedPiper | None) -> int:
        # Before loading, 22050 Hz: the rate of Piper's medium and high voices.
        return voice.config.sample_rate if voice is not None else 22050

    def _language(self, spec: PiperVoiceSpec, voice: _LoadedPiper | None) -> str:
        if voice is not None:
            return voice.config.language
        return spec.language or "en"

    def _load_voice(self, spec: PiperVoiceSpec) -> _LoadedPiper:
        model_path, config_path = voice_files(spec)
        model = read_model(model_path)
        config = read_config(config_path, spec)
        try:
            library = shared_library(*self._espeak_paths)
        except EspeakLibraryError as error:
            raise OnnxModelError(f"espeak-ng is needed for the phonemes: {error}") from error
        if not library.has_voice(config.espeak_voice):
            raise OnnxModelError(
                f"{config_path} asks for espeak-ng voice {config.espeak_voice!r}, "
                "which espeak-ng does not have"
            )
        durations = _duration_tensor(model, str(model_path))
        session = inference_session(
            with_extra_outputs(model, [durations]), self._threads, str(model_path)
        )
        inputs = {i.name for i in session.get_inputs()}
        if not _REQUIRED_INPUTS.issubset(inputs):
            raise OnnxModelError(
                f"{model_path} is not a Piper voice: inputs {sorted(inputs)}, "
                f"expected {sorted(_REQUIRED_INPUTS)}"
            )
        takes_speaker = "sid" in inputs
        if takes_speaker and config.speaker_id is None:
            raise OnnxModelError(f"{model_path} wants a speaker id, but its config has one speaker")
        return _LoadedPiper(spec, config, session, takes_speaker, library)

    def _sentences(self, voice: _LoadedPiper, text: str) -> Iterator[Sentence]:
        first = True
        for sentence in _SENTENCE_END.split(text.strip()):
            if not sentence.strip():
                continue
            clauses = voice.library.text_to_phonemes(sentence, voice.config.espeak_voice)
            parts = []
            for clause in clauses:
                spacing = " " if clause.punctuation in _SPACED_PUNCTUATION else ""
                parts.append(f"{clause.phonemes.strip()}{clause.punctuation}{spacing}")
            phonemes = " ".join(part.strip() for part in parts if part.strip())
            if not any(character.isalpha() for character in phonemes):
                continue
            yield Sentence(sentence, sentence_pieces(phonemes, first))
            first = False

    def _speak(self, voice: _LoadedPiper, phonemes: str) -> SpokenPiece:
        ids, symbols = phoneme_ids(phonemes, voice.config)
        feeds = {
            "input": np.asarray([ids], np.int64),
            "input_lengths": np.asarray([len(ids)], np.int64),
            "scales": np.asarray(voice.config.scales, np.float32),
        }
        if voice.takes_speaker:
            feeds["sid"] = np.asarray([voice.config.speaker_id], np.int64)
        audio, frames = voice.session.run(None, feeds)
        wave = np.asarray(audio, np.float32).reshape(-1)
        frames = np.asarray(frames, np.float64).reshape(-1)
        if len(frames) != len(ids):
            raise OnnxModelError(f"the model gave {len(frames)} durations for {len(ids)} ids")
        rate = voice.config.sample_rate
        # The hop length (256 for Piper's voices) is what the frames must be multiplied by.
        seconds_per_frame = len(wave) / rate / max(float(frames.sum()), 1.0)
        tokens = [TokenDuration(s, float(f)) for s, f in zip(symbols, frames, strict=True)]
        return SpokenPiece(float_to_int16(wave), tokens, seconds_per_frame)


def _duration_tensor(model: bytes, path: str) -> str:
    """The name of the graph's per-phoneme frame counts (the ``Ceil`` of VITS's durations).

    Raises:
        OnnxModelError: The graph has no such node.
    """
    nodes = nodes_of(model, path)
    for node in nodes:
        if node.op_type == "Ceil" and node.outputs:
            tensor = node.outputs[0]
            if consumer_of(nodes, tensor, "ReduceSum") or consumer_of(nodes, tensor, "CumSum"):
                return tensor
    raise OnnxModelError(
        f"{path} has no duration node (Ceil -> ReduceSum, as VITS exports have): not a Piper voice"
    )
