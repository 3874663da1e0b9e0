"""What a live session is opened with and ends with: its settings, its I/O, its errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc

from avatar.gateway.v1 import gateway_pb2
from avatar_gateway.converse.idle import IdleLoop
from avatar_gateway.converse.listen import ListenSettings
from avatar_gateway.pipeline import SpeakPlan

Receive = Callable[[], Awaitable[gateway_pb2.ConverseRequest | None]]
"""The client's next message; None once the client has closed its stream. It raises
:class:`SessionError` for a message that is not a ConverseRequest."""

Send = Callable[[gateway_pb2.ConverseResponse], Awaitable[None]]
"""Sends one event to the client."""


class SessionError(Exception):
    """Ends a session with a status.

    Attributes:
        code: The gRPC status code.
        message: What went wrong, in words.
        trailing_metadata: Metadata to send with the status.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        trailing_metadata: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.trailing_metadata = trailing_metadata


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """A live session's validated settings.

    Attributes:
        session_id: The session's identifier, as in logs.
        template: What every turn's plan starts from: avatar, voice, quality, fps,
            encoding, conversation (text, chat and start frame are the turn's).
        mode: The mode of turns that name none.
        sample_rate: Samples per second of the session (the voice's rate).
        frame_width: Frame width in pixels.
        frame_height: Frame height in pixels.
        idle: The avatar's idle loop.
        chat_available: Whether an LLM is configured.
        max_text_chars: Longest text of a turn.
        listen: How the session listens to the user's speech.
    """

    session_id: str
    template: SpeakPlan
    mode: int
    sample_rate: int
    frame_width: int
    frame_height: int
    idle: IdleLoop
    chat_available: bool
    max_text_chars: int
    listen: ListenSettings = ListenSettings()
