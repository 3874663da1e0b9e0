from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FrameEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FRAME_ENCODING_UNSPECIFIED: _ClassVar[FrameEncoding]
    FRAME_ENCODING_JPEG: _ClassVar[FrameEncoding]
    FRAME_ENCODING_RGB24: _ClassVar[FrameEncoding]
FRAME_ENCODING_UNSPECIFIED: FrameEncoding
FRAME_ENCODING_JPEG: FrameEncoding
FRAME_ENCODING_RGB24: FrameEncoding

class AudioChunk(_message.Message):
    __slots__ = ("pcm", "sample_rate", "sample_offset")
    PCM_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_OFFSET_FIELD_NUMBER: _ClassVar[int]
    pcm: bytes
    sample_rate: int
    sample_offset: int
    def __init__(self, pcm: _Optional[bytes] = ..., sample_rate: _Optional[int] = ..., sample_offset: _Optional[int] = ...) -> None: ...

class Frame(_message.Message):
    __slots__ = ("index", "data", "width", "height", "encoding")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    index: int
    data: bytes
    width: int
    height: int
    encoding: FrameEncoding
    def __init__(self, index: _Optional[int] = ..., data: _Optional[bytes] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., encoding: _Optional[_Union[FrameEncoding, str]] = ...) -> None: ...

class FrameBatch(_message.Message):
    __slots__ = ("frames", "fps")
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    frames: _containers.RepeatedCompositeFieldContainer[Frame]
    fps: float
    def __init__(self, frames: _Optional[_Iterable[_Union[Frame, _Mapping]]] = ..., fps: _Optional[float] = ...) -> None: ...

class Phoneme(_message.Message):
    __slots__ = ("symbol", "start_seconds", "end_seconds", "stressed")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    START_SECONDS_FIELD_NUMBER: _ClassVar[int]
    END_SECONDS_FIELD_NUMBER: _ClassVar[int]
    STRESSED_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    start_seconds: float
    end_seconds: float
    stressed: bool
    def __init__(self, symbol: _Optional[str] = ..., start_seconds: _Optional[float] = ..., end_seconds: _Optional[float] = ..., stressed: _Optional[bool] = ...) -> None: ...

class Word(_message.Message):
    __slots__ = ("text", "start_seconds", "end_seconds")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    START_SECONDS_FIELD_NUMBER: _ClassVar[int]
    END_SECONDS_FIELD_NUMBER: _ClassVar[int]
    text: str
    start_seconds: float
    end_seconds: float
    def __init__(self, text: _Optional[str] = ..., start_seconds: _Optional[float] = ..., end_seconds: _Optional[float] = ...) -> None: ...

class TimingTrack(_message.Message):
    __slots__ = ("phonemes", "words")
    PHONEMES_FIELD_NUMBER: _ClassVar[int]
    WORDS_FIELD_NUMBER: _ClassVar[int]
    phonemes: _containers.RepeatedCompositeFieldContainer[Phoneme]
    words: _containers.RepeatedCompositeFieldContainer[Word]
    def __init__(self, phonemes: _Optional[_Iterable[_Union[Phoneme, _Mapping]]] = ..., words: _Optional[_Iterable[_Union[Word, _Mapping]]] = ...) -> None: ...

class MotionSettings(_message.Message):
    __slots__ = ("seed", "blinks_per_minute", "head_motion", "still_head", "articulation", "no_blinks", "brow_raise")
    SEED_FIELD_NUMBER: _ClassVar[int]
    BLINKS_PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
    HEAD_MOTION_FIELD_NUMBER: _ClassVar[int]
    STILL_HEAD_FIELD_NUMBER: _ClassVar[int]
    ARTICULATION_FIELD_NUMBER: _ClassVar[int]
    NO_BLINKS_FIELD_NUMBER: _ClassVar[int]
    BROW_RAISE_FIELD_NUMBER: _ClassVar[int]
    seed: int
    blinks_per_minute: float
    head_motion: float
    still_head: bool
    articulation: float
    no_blinks: bool
    brow_raise: float
    def __init__(self, seed: _Optional[int] = ..., blinks_per_minute: _Optional[float] = ..., head_motion: _Optional[float] = ..., still_head: _Optional[bool] = ..., articulation: _Optional[float] = ..., no_blinks: _Optional[bool] = ..., brow_raise: _Optional[float] = ...) -> None: ...
