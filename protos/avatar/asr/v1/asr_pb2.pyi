from avatar.common.v1 import media_pb2 as _media_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SpeechEndReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SPEECH_END_REASON_UNSPECIFIED: _ClassVar[SpeechEndReason]
    SPEECH_END_REASON_SILENCE: _ClassVar[SpeechEndReason]
    SPEECH_END_REASON_MAX_LENGTH: _ClassVar[SpeechEndReason]
    SPEECH_END_REASON_END_OF_INPUT: _ClassVar[SpeechEndReason]
SPEECH_END_REASON_UNSPECIFIED: SpeechEndReason
SPEECH_END_REASON_SILENCE: SpeechEndReason
SPEECH_END_REASON_MAX_LENGTH: SpeechEndReason
SPEECH_END_REASON_END_OF_INPUT: SpeechEndReason

class TranscribeConfig(_message.Message):
    __slots__ = ("sample_rate", "language", "end_of_speech_ms", "interim_results", "speech_threshold")
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    END_OF_SPEECH_MS_FIELD_NUMBER: _ClassVar[int]
    INTERIM_RESULTS_FIELD_NUMBER: _ClassVar[int]
    SPEECH_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    sample_rate: int
    language: str
    end_of_speech_ms: int
    interim_results: bool
    speech_threshold: float
    def __init__(self, sample_rate: _Optional[int] = ..., language: _Optional[str] = ..., end_of_speech_ms: _Optional[int] = ..., interim_results: _Optional[bool] = ..., speech_threshold: _Optional[float] = ...) -> None: ...

class TranscribeInputEnd(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TranscribeRequest(_message.Message):
    __slots__ = ("config", "audio", "end")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    config: TranscribeConfig
    audio: _media_pb2.AudioChunk
    end: TranscribeInputEnd
    def __init__(self, config: _Optional[_Union[TranscribeConfig, _Mapping]] = ..., audio: _Optional[_Union[_media_pb2.AudioChunk, _Mapping]] = ..., end: _Optional[_Union[TranscribeInputEnd, _Mapping]] = ...) -> None: ...

class TranscriptionStarted(_message.Message):
    __slots__ = ("model", "language", "sample_rate", "end_of_speech_ms", "interim_results", "max_utterance_seconds")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    END_OF_SPEECH_MS_FIELD_NUMBER: _ClassVar[int]
    INTERIM_RESULTS_FIELD_NUMBER: _ClassVar[int]
    MAX_UTTERANCE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    model: str
    language: str
    sample_rate: int
    end_of_speech_ms: int
    interim_results: bool
    max_utterance_seconds: float
    def __init__(self, model: _Optional[str] = ..., language: _Optional[str] = ..., sample_rate: _Optional[int] = ..., end_of_speech_ms: _Optional[int] = ..., interim_results: _Optional[bool] = ..., max_utterance_seconds: _Optional[float] = ...) -> None: ...

class SpeechStarted(_message.Message):
    __slots__ = ("utterance", "time_seconds")
    UTTERANCE_FIELD_NUMBER: _ClassVar[int]
    TIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    utterance: int
    time_seconds: float
    def __init__(self, utterance: _Optional[int] = ..., time_seconds: _Optional[float] = ...) -> None: ...

class SpeechEnded(_message.Message):
    __slots__ = ("utterance", "time_seconds", "reason")
    UTTERANCE_FIELD_NUMBER: _ClassVar[int]
    TIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    utterance: int
    time_seconds: float
    reason: SpeechEndReason
    def __init__(self, utterance: _Optional[int] = ..., time_seconds: _Optional[float] = ..., reason: _Optional[_Union[SpeechEndReason, str]] = ...) -> None: ...

class RecognizedWord(_message.Message):
    __slots__ = ("text", "start_seconds", "end_seconds", "probability")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    START_SECONDS_FIELD_NUMBER: _ClassVar[int]
    END_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    text: str
    start_seconds: float
    end_seconds: float
    probability: float
    def __init__(self, text: _Optional[str] = ..., start_seconds: _Optional[float] = ..., end_seconds: _Optional[float] = ..., probability: _Optional[float] = ...) -> None: ...

class Transcript(_message.Message):
    __slots__ = ("utterance", "text", "start_seconds", "end_seconds", "words", "processing_seconds")
    UTTERANCE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    START_SECONDS_FIELD_NUMBER: _ClassVar[int]
    END_SECONDS_FIELD_NUMBER: _ClassVar[int]
    WORDS_FIELD_NUMBER: _ClassVar[int]
    PROCESSING_SECONDS_FIELD_NUMBER: _ClassVar[int]
    utterance: int
    text: str
    start_seconds: float
    end_seconds: float
    words: _containers.RepeatedCompositeFieldContainer[RecognizedWord]
    processing_seconds: float
    def __init__(self, utterance: _Optional[int] = ..., text: _Optional[str] = ..., start_seconds: _Optional[float] = ..., end_seconds: _Optional[float] = ..., words: _Optional[_Iterable[_Union[RecognizedWord, _Mapping]]] = ..., processing_seconds: _Optional[float] = ...) -> None: ...

class TranscriptionEnd(_message.Message):
    __slots__ = ("utterances", "audio_seconds", "speech_seconds")
    UTTERANCES_FIELD_NUMBER: _ClassVar[int]
    AUDIO_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SPEECH_SECONDS_FIELD_NUMBER: _ClassVar[int]
    utterances: int
    audio_seconds: float
    speech_seconds: float
    def __init__(self, utterances: _Optional[int] = ..., audio_seconds: _Optional[float] = ..., speech_seconds: _Optional[float] = ...) -> None: ...

class TranscribeResponse(_message.Message):
    __slots__ = ("sequence", "started", "speech_started", "speech_ended", "partial", "final", "end")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    SPEECH_STARTED_FIELD_NUMBER: _ClassVar[int]
    SPEECH_ENDED_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    started: TranscriptionStarted
    speech_started: SpeechStarted
    speech_ended: SpeechEnded
    partial: Transcript
    final: Transcript
    end: TranscriptionEnd
    def __init__(self, sequence: _Optional[int] = ..., started: _Optional[_Union[TranscriptionStarted, _Mapping]] = ..., speech_started: _Optional[_Union[SpeechStarted, _Mapping]] = ..., speech_ended: _Optional[_Union[SpeechEnded, _Mapping]] = ..., partial: _Optional[_Union[Transcript, _Mapping]] = ..., final: _Optional[_Union[Transcript, _Mapping]] = ..., end: _Optional[_Union[TranscriptionEnd, _Mapping]] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Model(_message.Message):
    __slots__ = ("name", "languages", "multilingual", "path")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    MULTILINGUAL_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    name: str
    languages: _containers.RepeatedScalarFieldContainer[str]
    multilingual: bool
    path: str
    def __init__(self, name: _Optional[str] = ..., languages: _Optional[_Iterable[str]] = ..., multilingual: _Optional[bool] = ..., path: _Optional[str] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "default_language", "end_of_speech_ms", "max_utterance_seconds", "max_stream_seconds")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    END_OF_SPEECH_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_UTTERANCE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_STREAM_SECONDS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[Model]
    default_language: str
    end_of_speech_ms: int
    max_utterance_seconds: float
    max_stream_seconds: float
    def __init__(self, models: _Optional[_Iterable[_Union[Model, _Mapping]]] = ..., default_language: _Optional[str] = ..., end_of_speech_ms: _Optional[int] = ..., max_utterance_seconds: _Optional[float] = ..., max_stream_seconds: _Optional[float] = ...) -> None: ...
