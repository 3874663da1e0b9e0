from avatar.common.v1 import media_pb2 as _media_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EnhanceConfig(_message.Message):
    __slots__ = ("backend", "upscale", "fidelity", "encoding", "jpeg_quality", "regions")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    UPSCALE_FIELD_NUMBER: _ClassVar[int]
    FIDELITY_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    JPEG_QUALITY_FIELD_NUMBER: _ClassVar[int]
    REGIONS_FIELD_NUMBER: _ClassVar[int]
    backend: str
    upscale: int
    fidelity: float
    encoding: _media_pb2.FrameEncoding
    jpeg_quality: int
    regions: _containers.RepeatedCompositeFieldContainer[Region]
    def __init__(self, backend: _Optional[str] = ..., upscale: _Optional[int] = ..., fidelity: _Optional[float] = ..., encoding: _Optional[_Union[_media_pb2.FrameEncoding, str]] = ..., jpeg_quality: _Optional[int] = ..., regions: _Optional[_Iterable[_Union[Region, _Mapping]]] = ...) -> None: ...

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

class FaceLandmarks(_message.Message):
    __slots__ = ("frame_index", "points")
    FRAME_INDEX_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    frame_index: int
    points: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, frame_index: _Optional[int] = ..., points: _Optional[_Iterable[float]] = ...) -> None: ...

class EnhanceInputEnd(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class EnhanceRequest(_message.Message):
    __slots__ = ("config", "frames", "end", "faces")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    config: EnhanceConfig
    frames: _media_pb2.FrameBatch
    end: EnhanceInputEnd
    faces: _containers.RepeatedCompositeFieldContainer[FaceLandmarks]
    def __init__(self, config: _Optional[_Union[EnhanceConfig, _Mapping]] = ..., frames: _Optional[_Union[_media_pb2.FrameBatch, _Mapping]] = ..., end: _Optional[_Union[EnhanceInputEnd, _Mapping]] = ..., faces: _Optional[_Iterable[_Union[FaceLandmarks, _Mapping]]] = ...) -> None: ...

class EnhanceStarted(_message.Message):
    __slots__ = ("backend", "model", "fidelity")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    FIDELITY_FIELD_NUMBER: _ClassVar[int]
    backend: str
    model: str
    fidelity: float
    def __init__(self, backend: _Optional[str] = ..., model: _Optional[str] = ..., fidelity: _Optional[float] = ...) -> None: ...

class EnhanceEnd(_message.Message):
    __slots__ = ("frames",)
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    frames: int
    def __init__(self, frames: _Optional[int] = ...) -> None: ...

class EnhanceResponse(_message.Message):
    __slots__ = ("sequence", "started", "frames", "end")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    started: EnhanceStarted
    frames: _media_pb2.FrameBatch
    end: EnhanceEnd
    def __init__(self, sequence: _Optional[int] = ..., started: _Optional[_Union[EnhanceStarted, _Mapping]] = ..., frames: _Optional[_Union[_media_pb2.FrameBatch, _Mapping]] = ..., end: _Optional[_Union[EnhanceEnd, _Mapping]] = ...) -> None: ...
