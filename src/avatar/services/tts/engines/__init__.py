"""Speech engines behind one interface (:class:`TtsEngine`), free of any gRPC code."""

from avatar.services.tts.engines.base import (
    CloningNotSupportedError,
    InvalidTextError,
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
    "InvalidTextError",
    "SynthesisChunk",
    "SynthesisError",
    "TtsEngine",
    "TtsError",
    "UnknownVoiceError",
    "VoiceInfo",
    "VoiceUnavailableError",
]
