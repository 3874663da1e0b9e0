"""Speech engines behind one interface (:class:`TtsEngine`), free of any gRPC code."""

from avatar_tts.engines.base import (
    CloningNotSupportedError,
    InvalidSpeakerSampleError,
    InvalidTextError,
    SpeakerSampleRequiredError,
    SynthesisChunk,
    SynthesisError,
    TtsEngine,
    TtsError,
    UnknownVoiceError,
    VoiceInfo,
    VoiceUnavailableError,
)

__all__ = [
    "CloningNotSupportedError",
    "InvalidSpeakerSampleError",
    "InvalidTextError",
    "SpeakerSampleRequiredError",
    "SynthesisChunk",
    "SynthesisError",
    "TtsEngine",
    "TtsError",
    "UnknownVoiceError",
    "VoiceInfo",
    "VoiceUnavailableError",
]
