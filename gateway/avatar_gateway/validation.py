"""Checks of public requests before any work starts (no gRPC here).

Each check returns a message for the user, or None when the request is fine. Checking
here, rather than letting a downstream service refuse a value mid-stream, gives the
client one clear INVALID_ARGUMENT at once and keeps bad values off the internal calls.
"""

from __future__ import annotations

import math
import re
from typing import Any

from avatar.common.v1 import media_pb2
from avatar.gateway.v1 import gateway_pb2

MAX_FPS = 60.0
MAX_DISPLAY_NAME_CHARS = 200
MAX_CONVERSATION_ID_CHARS = 256
MAX_VOICE_NAME_CHARS = 64
MIN_AUDIO_RATE = 8000
MAX_AUDIO_RATE = 96000
MAX_AUDIO_CHUNK_SECONDS = 2.0
_LANGUAGE = re.compile(r"[a-z]{2,3}")
_MOTION_FIELDS = ("blinks_per_minute", "head_motion", "articulation")


def display_name_problem(display_name: str) -> str | None:
    """Refuses display names too long to show."""
    if len(display_name) > MAX_DISPLAY_NAME_CHARS:
        return (
            f"display_name is {len(display_name)} characters; the limit is {MAX_DISPLAY_NAME_CHARS}"
        )
    return None


def speak_request_problem(request: gateway_pb2.SpeakRequest, max_text_chars: int) -> str | None:
    """Says what is wrong with a Speak request, or returns None.

    Args:
        request: The request as received.
        max_text_chars: Longest text accepted (after stripping white space).
    """
    return (
        _text_problem(request.text.strip(), request.mode, max_text_chars)
        or _enum_problem(
            ("mode", request.mode, gateway_pb2.SpeakMode),
            ("quality", request.quality, gateway_pb2.Quality),
            ("frame_encoding", request.frame_encoding, media_pb2.FrameEncoding),
        )
        or _fps_problem(request.fps)
        or _length_problem("conversation_id", request.conversation_id, MAX_CONVERSATION_ID_CHARS)
        or _length_problem("voice", request.voice, MAX_VOICE_NAME_CHARS)
        or _motion_problem(request.motion)
    )


def converse_config_problem(config: gateway_pb2.ConverseConfig) -> str | None:
    """Says what is wrong with the settings of a live session, or returns None.

    The avatar and the voice are checked against the store and the tts service later.
    """
    return (
        _enum_problem(
            ("mode", config.mode, gateway_pb2.SpeakMode),
            ("quality", config.quality, gateway_pb2.Quality),
            ("frame_encoding", config.frame_encoding, media_pb2.FrameEncoding),
        )
        or _fps_problem(config.fps)
        or _length_problem("conversation_id", config.conversation_id, MAX_CONVERSATION_ID_CHARS)
        or _length_problem("voice", config.voice, MAX_VOICE_NAME_CHARS)
        or _listen_problem(config.listen)
    )


def converse_audio_problem(
    chunk: media_pb2.AudioChunk, session_rate: int | None, next_offset: int
) -> str | None:
    """Says what is wrong with one chunk of the user's microphone, or returns None.

    Args:
        chunk: The chunk as received.
        session_rate: The rate of the session's first chunk (None before it).
        next_offset: The sample offset where the audio received so far ends.
    """
    rate = chunk.sample_rate or session_rate
    if not rate:
        return "audio.sample_rate is required on the first chunk (8000-96000 Hz)"
    if not MIN_AUDIO_RATE <= rate <= MAX_AUDIO_RATE:
        return f"audio.sample_rate must be {MIN_AUDIO_RATE}-{MAX_AUDIO_RATE} Hz, got {rate}"
    if session_rate and rate != session_rate:
        return f"audio.sample_rate {rate} Hz differs from the session's first chunk's, {session_rate} Hz"
    if not chunk.pcm:
        return "audio.pcm is empty"
    if len(chunk.pcm) % 2:
        return f"audio.pcm has {len(chunk.pcm)} bytes: s16le samples take 2 bytes each"
    if len(chunk.pcm) // 2 > MAX_AUDIO_CHUNK_SECONDS * rate:
        return f"an audio chunk holds at most {MAX_AUDIO_CHUNK_SECONDS:g} s; send smaller chunks"
    if chunk.sample_offset < next_offset:
        return (
            f"audio.sample_offset {chunk.sample_offset} goes back: the audio so far ends at "
            f"{next_offset}"
        )
    return None


def _listen_problem(listen: gateway_pb2.ConverseListen) -> str | None:
    language = listen.language.strip().lower()
    if language and not _LANGUAGE.fullmatch(language):
        return f"listen.language must be an ISO 639-1 code such as 'en', got {listen.language!r}"
    end_ms = listen.end_of_speech_ms
    if end_ms and not 100 <= end_ms <= 5000:
        return f"listen.end_of_speech_ms must be 100-5000 (0 means the default), got {end_ms}"
    return None


def converse_turn_problem(
    turn: gateway_pb2.ConverseTurn | gateway_pb2.ConverseDraft, mode: int, max_text_chars: int
) -> str | None:
    """Says what is wrong with one turn of a live session, or returns None.

    Args:
        turn: The turn as received (or a draft of it: the same rules).
        mode: The mode the turn runs in: its own, or the session's when it names none.
        max_text_chars: Longest text accepted (after stripping white space).
    """
    return _enum_problem(("mode", turn.mode, gateway_pb2.SpeakMode)) or _text_problem(
        turn.text.strip(), mode, max_text_chars
    )


def _text_problem(text: str, mode: int, max_text_chars: int) -> str | None:
    if not text:
        return "text is empty: say something"
    if len(text) > max_text_chars:
        return f"text is {len(text)} characters; the limit is {max_text_chars}"
    # The LLM can answer "?!", but a voice has nothing to say for it.
    if mode != gateway_pb2.SPEAK_MODE_CHAT and not any(char.isalnum() for char in text):
        return "text has nothing to speak: it needs at least one letter or digit"
    return None


def _enum_problem(*checks: tuple[str, int, Any]) -> str | None:
    for field, value, enum in checks:
        if value not in enum.values():
            names = ", ".join(item.name for item in enum.DESCRIPTOR.values if item.number)
            return f"{field} {value} is unknown; use one of {names}"
    return None


def _fps_problem(fps: float) -> str | None:
    # Written so that NaN fails too: every comparison with NaN is false.
    if fps != 0 and not 1.0 <= fps <= MAX_FPS:
        return f"fps must be between 1 and {MAX_FPS:g} (0 means the default), got {fps:g}"
    return None


def _length_problem(field: str, value: str, limit: int) -> str | None:
    if len(value) > limit:
        return f"{field} is {len(value)} characters; the limit is {limit}"
    return None


def _motion_problem(motion: media_pb2.MotionSettings) -> str | None:
    for field in _MOTION_FIELDS:
        value = getattr(motion, field)
        if not math.isfinite(value) or value < 0:
            return f"motion.{field} must be a finite number of at least 0, got {value:g}"
    return None
