from avatar.common.v1 import media_pb2 as _media_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PrepareAvatarRequest(_message.Message):
    __slots__ = ("image",)
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    image: bytes
    def __init__(self, image: _Optional[bytes] = ...) -> None: ...

class Point(_message.Message):
    __slots__ = ("x", "y")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    x: float
    y: float
    def __init__(self, x: _Optional[float] = ..., y: _Optional[float] = ...) -> None: ...

class PrepareAvatarResponse(_message.Message):
    __slots__ = ("content_hash", "landmarks", "faces_found", "frame_width", "frame_height", "still_jpeg", "warnings")
    CONTENT_HASH_FIELD_NUMBER: _ClassVar[int]
    LANDMARKS_FIELD_NUMBER: _ClassVar[int]
    FACES_FOUND_FIELD_NUMBER: _ClassVar[int]
    FRAME_WIDTH_FIELD_NUMBER: _ClassVar[int]
    FRAME_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    STILL_JPEG_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    content_hash: str
    landmarks: _containers.RepeatedCompositeFieldContainer[Point]
    faces_found: int
    frame_width: int
    frame_height: int
    still_jpeg: bytes
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, content_hash: _Optional[str] = ..., landmarks: _Optional[_Iterable[_Union[Point, _Mapping]]] = ..., faces_found: _Optional[int] = ..., frame_width: _Optional[int] = ..., frame_height: _Optional[int] = ..., still_jpeg: _Optional[bytes] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class AnimateConfig(_message.Message):
    __slots__ = ("content_hash", "image", "fps", "start_frame", "sample_rate", "encoding", "jpeg_quality", "batch_size", "motion", "loop_frames", "appearance", "lipsync", "touchup")
    CONTENT_HASH_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    START_FRAME_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    JPEG_QUALITY_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    MOTION_FIELD_NUMBER: _ClassVar[int]
    LOOP_FRAMES_FIELD_NUMBER: _ClassVar[int]
    APPEARANCE_FIELD_NUMBER: _ClassVar[int]
    LIPSYNC_FIELD_NUMBER: _ClassVar[int]
    TOUCHUP_FIELD_NUMBER: _ClassVar[int]
    content_hash: str
    image: bytes
    fps: float
    start_frame: int
    sample_rate: int
    encoding: _media_pb2.FrameEncoding
    jpeg_quality: int
    batch_size: int
    motion: _media_pb2.MotionSettings
    loop_frames: int
    appearance: bytes
    lipsync: str
    touchup: Touchup
    def __init__(self, content_hash: _Optional[str] = ..., image: _Optional[bytes] = ..., fps: _Optional[float] = ..., start_frame: _Optional[int] = ..., sample_rate: _Optional[int] = ..., encoding: _Optional[_Union[_media_pb2.FrameEncoding, str]] = ..., jpeg_quality: _Optional[int] = ..., batch_size: _Optional[int] = ..., motion: _Optional[_Union[_media_pb2.MotionSettings, _Mapping]] = ..., loop_frames: _Optional[int] = ..., appearance: _Optional[bytes] = ..., lipsync: _Optional[str] = ..., touchup: _Optional[_Union[Touchup, _Mapping]] = ...) -> None: ...

class Touchup(_message.Message):
    __slots__ = ("fidelity", "regions")
    FIDELITY_FIELD_NUMBER: _ClassVar[int]
    REGIONS_FIELD_NUMBER: _ClassVar[int]
    fidelity: float
    regions: _containers.RepeatedCompositeFieldContainer[Region]
    def __init__(self, fidelity: _Optional[float] = ..., regions: _Optional[_Iterable[_Union[Region, _Mapping]]] = ...) -> None: ...

class Region(_message.Message):
    __slots__ = ("x", "y", "width", "height")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    x: int
    y: int
    width: int
    height: int
    def __init__(self, x: _Optional[int] = ..., y: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class AnimateInputEnd(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AnimateRequest(_message.Message):
    __slots__ = ("config", "audio", "timings", "end")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    config: AnimateConfig
    audio: _media_pb2.AudioChunk
    timings: _media_pb2.TimingTrack
    end: AnimateInputEnd
    def __init__(self, config: _Optional[_Union[AnimateConfig, _Mapping]] = ..., audio: _Optional[_Union[_media_pb2.AudioChunk, _Mapping]] = ..., timings: _Optional[_Union[_media_pb2.TimingTrack, _Mapping]] = ..., end: _Optional[_Union[AnimateInputEnd, _Mapping]] = ...) -> None: ...

class AnimateStarted(_message.Message):
    __slots__ = ("frame_width", "frame_height", "fps", "cache_hit", "warnings", "lipsync")
    FRAME_WIDTH_FIELD_NUMBER: _ClassVar[int]
    FRAME_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    CACHE_HIT_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    LIPSYNC_FIELD_NUMBER: _ClassVar[int]
    frame_width: int
    frame_height: int
    fps: float
    cache_hit: bool
    warnings: _containers.RepeatedScalarFieldContainer[str]
    lipsync: str
    def __init__(self, frame_width: _Optional[int] = ..., frame_height: _Optional[int] = ..., fps: _Optional[float] = ..., cache_hit: _Optional[bool] = ..., warnings: _Optional[_Iterable[str]] = ..., lipsync: _Optional[str] = ...) -> None: ...

class AnimateEnd(_message.Message):
    __slots__ = ("frames", "used_timings")
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    USED_TIMINGS_FIELD_NUMBER: _ClassVar[int]
    frames: int
    used_timings: bool
    def __init__(self, frames: _Optional[int] = ..., used_timings: _Optional[bool] = ...) -> None: ...

class AnimateResponse(_message.Message):
    __slots__ = ("sequence", "started", "frames", "end")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    started: AnimateStarted
    frames: _media_pb2.FrameBatch
    end: AnimateEnd
    def __init__(self, sequence: _Optional[int] = ..., started: _Optional[_Union[AnimateStarted, _Mapping]] = ..., frames: _Optional[_Union[_media_pb2.FrameBatch, _Mapping]] = ..., end: _Optional[_Union[AnimateEnd, _Mapping]] = ...) -> None: ...
