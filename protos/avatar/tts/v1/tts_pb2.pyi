from avatar.common.v1 import media_pb2 as _media_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SynthesizeRequest(_message.Message):
    __slots__ = ("text", "voice", "sample_rate", "speaker_sample")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    VOICE_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_SAMPLE_FIELD_NUMBER: _ClassVar[int]
    text: str
    voice: str
    sample_rate: int
    speaker_sample: bytes
    def __init__(self, text: _Optional[str] = ..., voice: _Optional[str] = ..., sample_rate: _Optional[int] = ..., speaker_sample: _Optional[bytes] = ...) -> None: ...

class SynthesisStarted(_message.Message):
    __slots__ = ("voice", "sample_rate", "has_timings")
    VOICE_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    HAS_TIMINGS_FIELD_NUMBER: _ClassVar[int]
    voice: str
    sample_rate: int
    has_timings: bool
    def __init__(self, voice: _Optional[str] = ..., sample_rate: _Optional[int] = ..., has_timings: _Optional[bool] = ...) -> None: ...

class SynthesisEnd(_message.Message):
    __slots__ = ("total_samples", "duration_seconds")
    TOTAL_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    total_samples: int
    duration_seconds: float
    def __init__(self, total_samples: _Optional[int] = ..., duration_seconds: _Optional[float] = ...) -> None: ...

class SynthesizeResponse(_message.Message):
    __slots__ = ("sequence", "started", "audio", "timings", "end")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    started: SynthesisStarted
    audio: _media_pb2.AudioChunk
    timings: _media_pb2.TimingTrack
    end: SynthesisEnd
    def __init__(self, sequence: _Optional[int] = ..., started: _Optional[_Union[SynthesisStarted, _Mapping]] = ..., audio: _Optional[_Union[_media_pb2.AudioChunk, _Mapping]] = ..., timings: _Optional[_Union[_media_pb2.TimingTrack, _Mapping]] = ..., end: _Optional[_Union[SynthesisEnd, _Mapping]] = ...) -> None: ...

class ListVoicesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Voice(_message.Message):
    __slots__ = ("name", "engine", "language", "sample_rate", "supports_cloning", "supports_streaming", "has_timings", "available", "error", "description", "is_default")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_CLONING_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_STREAMING_FIELD_NUMBER: _ClassVar[int]
    HAS_TIMINGS_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    name: str
    engine: str
    language: str
    sample_rate: int
    supports_cloning: bool
    supports_streaming: bool
    has_timings: bool
    available: bool
    error: str
    description: str
    is_default: bool
    def __init__(self, name: _Optional[str] = ..., engine: _Optional[str] = ..., language: _Optional[str] = ..., sample_rate: _Optional[int] = ..., supports_cloning: _Optional[bool] = ..., supports_streaming: _Optional[bool] = ..., has_timings: _Optional[bool] = ..., available: _Optional[bool] = ..., error: _Optional[str] = ..., description: _Optional[str] = ..., is_default: _Optional[bool] = ...) -> None: ...

class ListVoicesResponse(_message.Message):
    __slots__ = ("voices", "default_voice")
    VOICES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_VOICE_FIELD_NUMBER: _ClassVar[int]
    voices: _containers.RepeatedCompositeFieldContainer[Voice]
    default_voice: str
    def __init__(self, voices: _Optional[_Iterable[_Union[Voice, _Mapping]]] = ..., default_voice: _Optional[str] = ...) -> None: ...
