from avatar.common.v1 import media_pb2 as _media_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SpeakMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SPEAK_MODE_UNSPECIFIED: _ClassVar[SpeakMode]
    SPEAK_MODE_SPEAK: _ClassVar[SpeakMode]
    SPEAK_MODE_CHAT: _ClassVar[SpeakMode]
    SPEAK_MODE_AUTO: _ClassVar[SpeakMode]

class Quality(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    QUALITY_UNSPECIFIED: _ClassVar[Quality]
    QUALITY_LOW: _ClassVar[Quality]
    QUALITY_HIGH: _ClassVar[Quality]

class UserSpeechKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    USER_SPEECH_KIND_UNSPECIFIED: _ClassVar[UserSpeechKind]
    USER_SPEECH_KIND_STARTED: _ClassVar[UserSpeechKind]
    USER_SPEECH_KIND_ENDED: _ClassVar[UserSpeechKind]
    USER_SPEECH_KIND_PARTIAL: _ClassVar[UserSpeechKind]
    USER_SPEECH_KIND_FINAL: _ClassVar[UserSpeechKind]
    USER_SPEECH_KIND_ERROR: _ClassVar[UserSpeechKind]

class TurnOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TURN_OUTCOME_UNSPECIFIED: _ClassVar[TurnOutcome]
    TURN_OUTCOME_DONE: _ClassVar[TurnOutcome]
    TURN_OUTCOME_INTERRUPTED: _ClassVar[TurnOutcome]
    TURN_OUTCOME_FAILED: _ClassVar[TurnOutcome]
SPEAK_MODE_UNSPECIFIED: SpeakMode
SPEAK_MODE_SPEAK: SpeakMode
SPEAK_MODE_CHAT: SpeakMode
SPEAK_MODE_AUTO: SpeakMode
QUALITY_UNSPECIFIED: Quality
QUALITY_LOW: Quality
QUALITY_HIGH: Quality
USER_SPEECH_KIND_UNSPECIFIED: UserSpeechKind
USER_SPEECH_KIND_STARTED: UserSpeechKind
USER_SPEECH_KIND_ENDED: UserSpeechKind
USER_SPEECH_KIND_PARTIAL: UserSpeechKind
USER_SPEECH_KIND_FINAL: UserSpeechKind
USER_SPEECH_KIND_ERROR: UserSpeechKind
TURN_OUTCOME_UNSPECIFIED: TurnOutcome
TURN_OUTCOME_DONE: TurnOutcome
TURN_OUTCOME_INTERRUPTED: TurnOutcome
TURN_OUTCOME_FAILED: TurnOutcome

class CreateAvatarRequest(_message.Message):
    __slots__ = ("image", "display_name")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    image: bytes
    display_name: str
    def __init__(self, image: _Optional[bytes] = ..., display_name: _Optional[str] = ...) -> None: ...

class Avatar(_message.Message):
    __slots__ = ("avatar_id", "display_name", "created_unix_seconds", "frame_width", "frame_height", "idle_clip_mp4", "poster_gif", "warnings")
    AVATAR_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FRAME_WIDTH_FIELD_NUMBER: _ClassVar[int]
    FRAME_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    IDLE_CLIP_MP4_FIELD_NUMBER: _ClassVar[int]
    POSTER_GIF_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    avatar_id: str
    display_name: str
    created_unix_seconds: float
    frame_width: int
    frame_height: int
    idle_clip_mp4: bytes
    poster_gif: bytes
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, avatar_id: _Optional[str] = ..., display_name: _Optional[str] = ..., created_unix_seconds: _Optional[float] = ..., frame_width: _Optional[int] = ..., frame_height: _Optional[int] = ..., idle_clip_mp4: _Optional[bytes] = ..., poster_gif: _Optional[bytes] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class GetAvatarRequest(_message.Message):
    __slots__ = ("avatar_id", "include_media")
    AVATAR_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_MEDIA_FIELD_NUMBER: _ClassVar[int]
    avatar_id: str
    include_media: bool
    def __init__(self, avatar_id: _Optional[str] = ..., include_media: _Optional[bool] = ...) -> None: ...

class ListAvatarsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAvatarsResponse(_message.Message):
    __slots__ = ("avatars",)
    AVATARS_FIELD_NUMBER: _ClassVar[int]
    avatars: _containers.RepeatedCompositeFieldContainer[Avatar]
    def __init__(self, avatars: _Optional[_Iterable[_Union[Avatar, _Mapping]]] = ...) -> None: ...

class DeleteAvatarRequest(_message.Message):
    __slots__ = ("avatar_id",)
    AVATAR_ID_FIELD_NUMBER: _ClassVar[int]
    avatar_id: str
    def __init__(self, avatar_id: _Optional[str] = ...) -> None: ...

class DeleteAvatarResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SpeakRequest(_message.Message):
    __slots__ = ("avatar_id", "text", "mode", "quality", "voice", "conversation_id", "frame_encoding", "include_mp4", "motion", "fps")
    AVATAR_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    VOICE_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    FRAME_ENCODING_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_MP4_FIELD_NUMBER: _ClassVar[int]
    MOTION_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    avatar_id: str
    text: str
    mode: SpeakMode
    quality: Quality
    voice: str
    conversation_id: str
    frame_encoding: _media_pb2.FrameEncoding
    include_mp4: bool
    motion: _media_pb2.MotionSettings
    fps: float
    def __init__(self, avatar_id: _Optional[str] = ..., text: _Optional[str] = ..., mode: _Optional[_Union[SpeakMode, str]] = ..., quality: _Optional[_Union[Quality, str]] = ..., voice: _Optional[str] = ..., conversation_id: _Optional[str] = ..., frame_encoding: _Optional[_Union[_media_pb2.FrameEncoding, str]] = ..., include_mp4: _Optional[bool] = ..., motion: _Optional[_Union[_media_pb2.MotionSettings, _Mapping]] = ..., fps: _Optional[float] = ...) -> None: ...

class SpeakStarted(_message.Message):
    __slots__ = ("request_id", "sample_rate", "fps", "frame_width", "frame_height", "mode")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    FRAME_WIDTH_FIELD_NUMBER: _ClassVar[int]
    FRAME_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    sample_rate: int
    fps: float
    frame_width: int
    frame_height: int
    mode: SpeakMode
    def __init__(self, request_id: _Optional[str] = ..., sample_rate: _Optional[int] = ..., fps: _Optional[float] = ..., frame_width: _Optional[int] = ..., frame_height: _Optional[int] = ..., mode: _Optional[_Union[SpeakMode, str]] = ...) -> None: ...

class Sentence(_message.Message):
    __slots__ = ("index", "text", "start_seconds", "duration_seconds", "from_llm", "timings")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    START_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FROM_LLM_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    index: int
    text: str
    start_seconds: float
    duration_seconds: float
    from_llm: bool
    timings: _media_pb2.TimingTrack
    def __init__(self, index: _Optional[int] = ..., text: _Optional[str] = ..., start_seconds: _Optional[float] = ..., duration_seconds: _Optional[float] = ..., from_llm: _Optional[bool] = ..., timings: _Optional[_Union[_media_pb2.TimingTrack, _Mapping]] = ...) -> None: ...

class VideoChunk(_message.Message):
    __slots__ = ("data", "last")
    DATA_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    last: bool
    def __init__(self, data: _Optional[bytes] = ..., last: _Optional[bool] = ...) -> None: ...

class StageTiming(_message.Message):
    __slots__ = ("stage", "seconds")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    stage: str
    seconds: float
    def __init__(self, stage: _Optional[str] = ..., seconds: _Optional[float] = ...) -> None: ...

class SpeakSummary(_message.Message):
    __slots__ = ("time_to_first_audio_seconds", "time_to_first_frame_seconds", "total_seconds", "audio_seconds", "real_time_factor", "frames", "sentences", "stages", "spoken_text")
    TIME_TO_FIRST_AUDIO_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TIME_TO_FIRST_FRAME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    AUDIO_SECONDS_FIELD_NUMBER: _ClassVar[int]
    REAL_TIME_FACTOR_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    SENTENCES_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    SPOKEN_TEXT_FIELD_NUMBER: _ClassVar[int]
    time_to_first_audio_seconds: float
    time_to_first_frame_seconds: float
    total_seconds: float
    audio_seconds: float
    real_time_factor: float
    frames: int
    sentences: int
    stages: _containers.RepeatedCompositeFieldContainer[StageTiming]
    spoken_text: str
    def __init__(self, time_to_first_audio_seconds: _Optional[float] = ..., time_to_first_frame_seconds: _Optional[float] = ..., total_seconds: _Optional[float] = ..., audio_seconds: _Optional[float] = ..., real_time_factor: _Optional[float] = ..., frames: _Optional[int] = ..., sentences: _Optional[int] = ..., stages: _Optional[_Iterable[_Union[StageTiming, _Mapping]]] = ..., spoken_text: _Optional[str] = ...) -> None: ...

class SpeakResponse(_message.Message):
    __slots__ = ("sequence", "started", "sentence", "audio", "frames", "video", "summary")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    SENTENCE_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    started: SpeakStarted
    sentence: Sentence
    audio: _media_pb2.AudioChunk
    frames: _media_pb2.FrameBatch
    video: VideoChunk
    summary: SpeakSummary
    def __init__(self, sequence: _Optional[int] = ..., started: _Optional[_Union[SpeakStarted, _Mapping]] = ..., sentence: _Optional[_Union[Sentence, _Mapping]] = ..., audio: _Optional[_Union[_media_pb2.AudioChunk, _Mapping]] = ..., frames: _Optional[_Union[_media_pb2.FrameBatch, _Mapping]] = ..., video: _Optional[_Union[VideoChunk, _Mapping]] = ..., summary: _Optional[_Union[SpeakSummary, _Mapping]] = ...) -> None: ...

class ConverseConfig(_message.Message):
    __slots__ = ("avatar_id", "voice", "quality", "mode", "conversation_id", "frame_encoding", "fps", "listen")
    AVATAR_ID_FIELD_NUMBER: _ClassVar[int]
    VOICE_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    FRAME_ENCODING_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    LISTEN_FIELD_NUMBER: _ClassVar[int]
    avatar_id: str
    voice: str
    quality: Quality
    mode: SpeakMode
    conversation_id: str
    frame_encoding: _media_pb2.FrameEncoding
    fps: float
    listen: ConverseListen
    def __init__(self, avatar_id: _Optional[str] = ..., voice: _Optional[str] = ..., quality: _Optional[_Union[Quality, str]] = ..., mode: _Optional[_Union[SpeakMode, str]] = ..., conversation_id: _Optional[str] = ..., frame_encoding: _Optional[_Union[_media_pb2.FrameEncoding, str]] = ..., fps: _Optional[float] = ..., listen: _Optional[_Union[ConverseListen, _Mapping]] = ...) -> None: ...

class ConverseListen(_message.Message):
    __slots__ = ("language", "end_of_speech_ms", "barge_in_off", "interim_results")
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    END_OF_SPEECH_MS_FIELD_NUMBER: _ClassVar[int]
    BARGE_IN_OFF_FIELD_NUMBER: _ClassVar[int]
    INTERIM_RESULTS_FIELD_NUMBER: _ClassVar[int]
    language: str
    end_of_speech_ms: int
    barge_in_off: bool
    interim_results: bool
    def __init__(self, language: _Optional[str] = ..., end_of_speech_ms: _Optional[int] = ..., barge_in_off: _Optional[bool] = ..., interim_results: _Optional[bool] = ...) -> None: ...

class ConverseTurn(_message.Message):
    __slots__ = ("text", "mode", "client_turn_id")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_TURN_ID_FIELD_NUMBER: _ClassVar[int]
    text: str
    mode: SpeakMode
    client_turn_id: str
    def __init__(self, text: _Optional[str] = ..., mode: _Optional[_Union[SpeakMode, str]] = ..., client_turn_id: _Optional[str] = ...) -> None: ...

class ConverseInterrupt(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ConverseDraft(_message.Message):
    __slots__ = ("text", "mode")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    text: str
    mode: SpeakMode
    def __init__(self, text: _Optional[str] = ..., mode: _Optional[_Union[SpeakMode, str]] = ...) -> None: ...

class ConverseRequest(_message.Message):
    __slots__ = ("config", "turn", "interrupt", "audio", "draft")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    TURN_FIELD_NUMBER: _ClassVar[int]
    INTERRUPT_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    DRAFT_FIELD_NUMBER: _ClassVar[int]
    config: ConverseConfig
    turn: ConverseTurn
    interrupt: ConverseInterrupt
    audio: _media_pb2.AudioChunk
    draft: ConverseDraft
    def __init__(self, config: _Optional[_Union[ConverseConfig, _Mapping]] = ..., turn: _Optional[_Union[ConverseTurn, _Mapping]] = ..., interrupt: _Optional[_Union[ConverseInterrupt, _Mapping]] = ..., audio: _Optional[_Union[_media_pb2.AudioChunk, _Mapping]] = ..., draft: _Optional[_Union[ConverseDraft, _Mapping]] = ...) -> None: ...

class ConverseStarted(_message.Message):
    __slots__ = ("session_id", "sample_rate", "fps", "frame_width", "frame_height", "idle_loop_frames")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    FRAME_WIDTH_FIELD_NUMBER: _ClassVar[int]
    FRAME_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    IDLE_LOOP_FRAMES_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    sample_rate: int
    fps: float
    frame_width: int
    frame_height: int
    idle_loop_frames: int
    def __init__(self, session_id: _Optional[str] = ..., sample_rate: _Optional[int] = ..., fps: _Optional[float] = ..., frame_width: _Optional[int] = ..., frame_height: _Optional[int] = ..., idle_loop_frames: _Optional[int] = ...) -> None: ...

class TurnStarted(_message.Message):
    __slots__ = ("client_turn_id", "text", "mode", "from_speech")
    CLIENT_TURN_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    FROM_SPEECH_FIELD_NUMBER: _ClassVar[int]
    client_turn_id: str
    text: str
    mode: SpeakMode
    from_speech: bool
    def __init__(self, client_turn_id: _Optional[str] = ..., text: _Optional[str] = ..., mode: _Optional[_Union[SpeakMode, str]] = ..., from_speech: _Optional[bool] = ...) -> None: ...

class UserSpeech(_message.Message):
    __slots__ = ("kind", "utterance", "text", "start_seconds", "end_seconds", "turn", "barge_in", "echo", "error_code", "error_message")
    KIND_FIELD_NUMBER: _ClassVar[int]
    UTTERANCE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    START_SECONDS_FIELD_NUMBER: _ClassVar[int]
    END_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TURN_FIELD_NUMBER: _ClassVar[int]
    BARGE_IN_FIELD_NUMBER: _ClassVar[int]
    ECHO_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    kind: UserSpeechKind
    utterance: int
    text: str
    start_seconds: float
    end_seconds: float
    turn: int
    barge_in: bool
    echo: bool
    error_code: str
    error_message: str
    def __init__(self, kind: _Optional[_Union[UserSpeechKind, str]] = ..., utterance: _Optional[int] = ..., text: _Optional[str] = ..., start_seconds: _Optional[float] = ..., end_seconds: _Optional[float] = ..., turn: _Optional[int] = ..., barge_in: _Optional[bool] = ..., echo: _Optional[bool] = ..., error_code: _Optional[str] = ..., error_message: _Optional[str] = ...) -> None: ...

class TurnEnded(_message.Message):
    __slots__ = ("client_turn_id", "outcome", "summary", "start_frame", "end_frame", "error_code", "error_message")
    CLIENT_TURN_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    START_FRAME_FIELD_NUMBER: _ClassVar[int]
    END_FRAME_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    client_turn_id: str
    outcome: TurnOutcome
    summary: SpeakSummary
    start_frame: int
    end_frame: int
    error_code: str
    error_message: str
    def __init__(self, client_turn_id: _Optional[str] = ..., outcome: _Optional[_Union[TurnOutcome, str]] = ..., summary: _Optional[_Union[SpeakSummary, _Mapping]] = ..., start_frame: _Optional[int] = ..., end_frame: _Optional[int] = ..., error_code: _Optional[str] = ..., error_message: _Optional[str] = ...) -> None: ...

class ConverseResponse(_message.Message):
    __slots__ = ("sequence", "turn", "started", "turn_started", "sentence", "audio", "frames", "turn_ended", "user_speech")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TURN_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    TURN_STARTED_FIELD_NUMBER: _ClassVar[int]
    SENTENCE_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    TURN_ENDED_FIELD_NUMBER: _ClassVar[int]
    USER_SPEECH_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    turn: int
    started: ConverseStarted
    turn_started: TurnStarted
    sentence: Sentence
    audio: _media_pb2.AudioChunk
    frames: _media_pb2.FrameBatch
    turn_ended: TurnEnded
    user_speech: UserSpeech
    def __init__(self, sequence: _Optional[int] = ..., turn: _Optional[int] = ..., started: _Optional[_Union[ConverseStarted, _Mapping]] = ..., turn_started: _Optional[_Union[TurnStarted, _Mapping]] = ..., sentence: _Optional[_Union[Sentence, _Mapping]] = ..., audio: _Optional[_Union[_media_pb2.AudioChunk, _Mapping]] = ..., frames: _Optional[_Union[_media_pb2.FrameBatch, _Mapping]] = ..., turn_ended: _Optional[_Union[TurnEnded, _Mapping]] = ..., user_speech: _Optional[_Union[UserSpeech, _Mapping]] = ...) -> None: ...

class ListVoicesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Voice(_message.Message):
    __slots__ = ("name", "language", "sample_rate", "is_default", "available", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    language: str
    sample_rate: int
    is_default: bool
    available: bool
    description: str
    def __init__(self, name: _Optional[str] = ..., language: _Optional[str] = ..., sample_rate: _Optional[int] = ..., is_default: _Optional[bool] = ..., available: _Optional[bool] = ..., description: _Optional[str] = ...) -> None: ...

class ListVoicesResponse(_message.Message):
    __slots__ = ("voices", "default_voice")
    VOICES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_VOICE_FIELD_NUMBER: _ClassVar[int]
    voices: _containers.RepeatedCompositeFieldContainer[Voice]
    default_voice: str
    def __init__(self, voices: _Optional[_Iterable[_Union[Voice, _Mapping]]] = ..., default_voice: _Optional[str] = ...) -> None: ...
