"""The coqui engine: neural voices from coqui-tts (GlowTTS, VITS, YourTTS, XTTS...).

Duration models give phoneme timings from their own alignment of input tokens with output
frames. Most models synthesise a whole sentence at once, so the finished audio is cut into a
short first chunk and larger ones; XTTS streams audio as it generates (without timings).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from avatar_core.timing import Phoneme, Word
from avatar_tts.engines.base import (
    CloningNotSupportedError,
    InvalidTextError,
    SpeakerSampleRequiredError,
    SynthesisChunk,
    SynthesisError,
    TtsEngine,
    UnknownVoiceError,
    VoiceInfo,
    VoiceUnavailableError,
    split_samples,
)
from avatar_tts.engines.coqui_models import (
    CoquiModelCache,
    CoquiModelError,
    CoquiVoiceSpec,
    LoadedCoquiModel,
)
from avatar_tts.engines.coqui_timing import (
    TokenDuration,
    fit_to_duration,
    tokens_to_timings,
)
from avatar_tts.engines.speaker_cache import SpeakerCache
from avatar_tts.engines.speaker_sample import (
    SpeakerSample,
    decode_speaker_sample,
    speaker_wav_file,
)

ENGINE_NAME = "coqui"
_LOGGER = logging.getLogger(__name__)
_WARM_UP_TEXT = "Hello."


@dataclass(frozen=True, slots=True)
class _ClonedVoice:
    """The voice of a request's speaker sample.

    Attributes:
        name: Its name in the speaker cache.
        sample: The decoded sample when it must be cloned; None when the cache has it.
    """

    name: str
    sample: SpeakerSample | None


class CoquiEngine(TtsEngine):
    """Voices from coqui-tts models, each loaded once and shared by voices that name it.

    Args:
        voices: The voices to offer.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when available).
        models_dir: Where coqui keeps downloaded models; empty means coqui's default.
        first_chunk_seconds: Most audio in the first chunk, so playback starts early.
        chunk_seconds: Most audio in every later chunk.
        speaker_cache_size: Most cloned voices kept, by speaker-sample hash.
        on_speaker_cache_lookup: Called with True for a cache hit, False for a miss.
    """

    def __init__(
        self,
        voices: Sequence[CoquiVoiceSpec],
        *,
        device: str = "auto",
        models_dir: str = "",
        first_chunk_seconds: float = 0.1,
        chunk_seconds: float = 1.0,
        speaker_cache_size: int = 64,
        on_speaker_cache_lookup: Callable[[bool], None] | None = None,
    ) -> None:
        self._specs = {spec.name: spec for spec in voices}
        self._cache = CoquiModelCache(device, models_dir)
        self._first_chunk_seconds = first_chunk_seconds
        self._chunk_seconds = chunk_seconds
        self._voice_models: dict[str, LoadedCoquiModel] = {}
        self._has_timings: dict[str, bool] = {}
        self._errors: dict[str, str] = dict.fromkeys(self._specs, "not loaded yet")
        self._load_lock = threading.Lock()
        self._speakers = SpeakerCache(speaker_cache_size, on_speaker_cache_lookup)

    @property
    def model_cache(self) -> CoquiModelCache:
        """The models loaded so far, shared by the voices that name the same files."""
        return self._cache

    @property
    def speaker_cache(self) -> SpeakerCache:
        """Cloned voices by speaker-sample hash."""
        return self._speakers

    def voices(self) -> list[VoiceInfo]:
        """Returns the configured voices; what they can do is known once loaded."""
        infos = []
        for spec in self._specs.values():
            model = self._voice_models.get(spec.name)
            infos.append(
                VoiceInfo(
                    name=spec.name,
                    engine=ENGINE_NAME,
                    language=model.language if model else spec.bcp47_language,
                    sample_rate=model.sample_rate if model else 0,
                    supports_cloning=bool(model and model.supports_cloning),
                    supports_streaming=bool(model and model.supports_streaming),
                    has_timings=self._has_timings.get(spec.name, False),
                    description=spec.description or spec.model,
                    available=not self._errors[spec.name],
                    error=self._errors[spec.name],
                )
            )
        return infos

    def load(self) -> None:
        """Loads every voice's model once and warms it up; a failure disables only that voice."""
        with self._load_lock:
            for spec in self._specs.values():
                if spec.name in self._voice_models:
                    continue
                try:
                    model = self._cache.load(spec)
                    self._voice_models[spec.name] = model
                    self._errors[spec.name] = ""
                    self._has_timings[spec.name] = self._warm_up(spec, model)
                except (CoquiModelError, SynthesisError) as error:
                    self._voice_models.pop(spec.name, None)
                    self._errors[spec.name] = str(error)
                    _LOGGER.error("coqui voice %s is unavailable: %s", spec.name, error)

    def synthesize(
        self, text: str, voice: str, speaker_sample: bytes | None = None
    ) -> Iterator[SynthesisChunk]:
        """Speaks ``text``; see :meth:`TtsEngine.synthesize`. Arguments are checked at once."""
        spec = self._specs.get(voice)
        if spec is None:
            raise UnknownVoiceError(voice, sorted(self._specs))
        if voice not in self._voice_models and self._errors[voice] == "not loaded yet":
            self.load()
        model = self._voice_models.get(voice)
        if model is None:
            raise VoiceUnavailableError(f"voice {voice!r} is unavailable: {self._errors[voice]}")
        if speaker_sample and not model.supports_cloning:
            raise CloningNotSupportedError(f"voice {voice!r} cannot clone a speaker sample")
        if model.needs_speaker_sample and not speaker_sample:
            raise SpeakerSampleRequiredError(
                f"voice {voice!r} has no built-in speaker: send a speaker_sample to clone"
            )
        if not text.strip():
            raise InvalidTextError("the text is empty")
        voice = self._cloned_voice(spec, speaker_sample) if speaker_sample else None
        if model.supports_streaming:
            return self._stream_generated(spec, model, text, voice)
        return self._stream_finished(spec, model, text, voice)

    def _cloned_voice(self, spec: CoquiVoiceSpec, speaker_sample: bytes) -> _ClonedVoice:
        """Looks the sample up in the speaker cache; decodes (and checks) it on a miss.

        Raises:
            InvalidSpeakerSampleError: The sample is not audio of an accepted length.
        """
        name = SpeakerCache.name_of(f"{spec.model}|{spec.config_path}", speaker_sample)
        if self._speakers.lookup(name):
            return _ClonedVoice(name, None)
        return _ClonedVoice(name, decode_speaker_sample(speaker_sample))

    def _warm_up(self, spec: CoquiVoiceSpec, model: LoadedCoquiModel) -> bool:
        """Runs one short synthesis; returns whether the model gives timings."""
        if model.needs_speaker_sample:
            return model.aligned  # nothing to speak with until a request brings a voice
        if model.supports_streaming:
            for _ in self._stream_generated(spec, model, _WARM_UP_TEXT, None):
                pass
            return False
        with model.lock:
            _, phonemes, _ = self._synthesize_sentence(spec, model, _WARM_UP_TEXT, None, None)
        return bool(phonemes)

    def _stream_finished(
        self, spec: CoquiVoiceSpec, model: LoadedCoquiModel, text: str, voice: _ClonedVoice | None
    ) -> Iterator[SynthesisChunk]:
        with model.lock, speaker_wav_file(voice and voice.sample) as speaker_wav:
            samples, phonemes, words = self._synthesize_sentence(
                spec, model, text, voice and voice.name, speaker_wav
            )
        if voice is not None and voice.sample is not None:
            self._speakers.stored(voice.name)  # coqui saved it under that name
        pieces = split_samples(
            samples,
            max(1, int(self._first_chunk_seconds * model.sample_rate)),
            max(1, int(self._chunk_seconds * model.sample_rate)),
        )
        for index, piece in enumerate(pieces):
            # Every timing is known before any audio leaves: all go with the first chunk.
            yield SynthesisChunk(
                samples=piece,
                phonemes=tuple(phonemes) if index == 0 else (),
                words=tuple(words) if index == 0 else (),
            )

    def _synthesize_sentence(
        self,
        spec: CoquiVoiceSpec,
        model: LoadedCoquiModel,
        text: str,
        voice_name: str | None,
        speaker_wav: str | None,
    ) -> tuple[np.ndarray, list[Phoneme], list[Word]]:
        """Synthesises one sentence; a cloned voice is computed from ``speaker_wav`` and saved
        under ``voice_name``, or loaded by that name when ``speaker_wav`` is None."""
        synthesizer = model.synthesizer
        use_griffin_lim = synthesizer.vocoder_model is None
        try:
            outputs = synthesizer.tts_model.synthesize(
                text=text,
                speaker=voice_name or model.speaker,
                speaker_wav=speaker_wav,
                voice_dir=self._speakers.directory if voice_name else None,
                language=model.model_language,
                use_griffin_lim=use_griffin_lim,
            )
            wave = outputs["wav"]
            if wave is None:
                # The synthesizer's own bridge between the two models' spectrogram scales.
                device = next(synthesizer.vocoder_model.parameters()).device
                wave = synthesizer._run_vocoder(outputs["outputs"]["model_outputs"][0], device)
        except Exception as error:  # torch and coqui raise anything
            raise SynthesisError(f"coqui model {spec.model} failed: {error!r}") from error
        wave = _to_numpy(wave)
        if synthesizer.tts_config.audio.get("do_trim_silence"):
            wave = wave[: synthesizer.tts_model.ap.find_endpoint(wave)]
        samples = _to_int16(wave)
        phonemes, words = self._timings(spec, model, outputs, text)
        phonemes, words = fit_to_duration(phonemes, words, len(samples) / model.sample_rate)
        return samples, phonemes, words

    def _timings(
        self, spec: CoquiVoiceSpec, model: LoadedCoquiModel, outputs: dict[str, Any], text: str
    ) -> tuple[list[Phoneme], list[Word]]:
        """Reads the phonemes off the model's token alignment; none when it has none."""
        alignment, token_ids = outputs.get("alignments"), outputs.get("text_inputs")
        if alignment is None or token_ids is None:
            return [], []
        ids = [int(i) for i in _to_numpy(token_ids).reshape(-1)]
        matrix = _to_numpy(alignment).squeeze()
        if matrix.ndim != 2 or len(ids) not in matrix.shape:
            return [], []
        # Alignments are [frames, tokens]; sum over frames to get each token's duration.
        frames = matrix.sum(axis=0) if matrix.shape[1] == len(ids) else matrix.sum(axis=1)
        tts_model = model.synthesizer.tts_model
        characters = tts_model.tokenizer.characters
        special = frozenset(
            s for s in (characters.pad, characters.blank, characters.bos, characters.eos) if s
        )
        tokens = [
            TokenDuration(characters.id_to_char(i), float(f))
            for i, f in zip(ids, frames, strict=True)
        ]
        return tokens_to_timings(
            tokens,
            seconds_per_frame=model.seconds_per_frame,
            special_tokens=special,
            tokens_are_phonemes=bool(tts_model.config.get("use_phonemes", False)),
            language=model.language,
            text=text,
        )

    def _stream_generated(
        self, spec: CoquiVoiceSpec, model: LoadedCoquiModel, text: str, voice: _ClonedVoice | None
    ) -> Iterator[SynthesisChunk]:
        """Streams a model that generates audio piece by piece (XTTS), without timings."""
        tts_model = model.synthesizer.tts_model
        with model.lock, speaker_wav_file(voice and voice.sample) as speaker_wav:
            try:
                if voice is not None:
                    # Computed from the sample and saved, or loaded when cached.
                    cloned = tts_model.clone_voice(
                        speaker_wav, voice.name, self._speakers.directory
                    )
                    if voice.sample is not None:
                        self._speakers.stored(voice.name)
                    latent = cloned["gpt_conditioning_latents"]
                    embedding = cloned["speaker_embedding"]
                else:
                    latent, embedding = tts_model.speaker_manager.speakers[model.speaker].values()
                pieces = tts_model.inference_stream(
                    text, model.model_language or "en", latent, embedding
                )
                for piece in pieces:
                    yield SynthesisChunk(samples=_to_int16(_to_numpy(piece)))
            except Exception as error:  # torch and coqui raise anything
                raise SynthesisError(f"coqui model {spec.model} failed: {error!r}") from error


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _to_int16(wave: np.ndarray) -> np.ndarray:
    """Converts float audio in [-1, 1] to int16, scaling down only what would clip."""
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    peak = float(np.max(np.abs(wave))) if wave.size else 0.0
    if peak > 1.0:
        wave = wave / peak
    return np.round(wave * 32767.0).astype(np.int16)
