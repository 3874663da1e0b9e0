"""What one Speak request runs with: the validated request and the downstream clients."""

from __future__ import annotations

from dataclasses import dataclass

from avatar.common.v1 import media_pb2
from avatar_gateway.clients import AnimatorClient, EnhancerClient, LlmClient, TtsClient
from avatar_gateway.conversations import ConversationTurn


@dataclass(frozen=True, slots=True)
class SpeakPlan:
    """A validated Speak request, ready to run.

    Attributes:
        text: The text to speak, or the message to answer in chat mode.
        chat: Whether the LLM answers ``text`` first.
        high_quality: Whether frames pass through the enhancer.
        voice: TTS voice; empty for the default.
        conversation_id: Conversation the chat turn belongs to; empty keeps no history.
        content_hash: The avatar photo's content hash.
        photo: The avatar photo, for an animator that has not cached it.
        fps: Frames per second.
        frame_encoding: Encoding of the frames sent to the client.
        motion: Idle motion and articulation settings.
        include_mp4: Whether the client also gets the whole output as one MP4.
        history: The conversation's earlier turns, oldest first, from the conversation
            store (chat only).
    """

    text: str
    chat: bool
    high_quality: bool
    voice: str
    conversation_id: str
    content_hash: str
    photo: bytes
    fps: float
    frame_encoding: int
    motion: media_pb2.MotionSettings
    include_mp4: bool = False
    history: tuple[ConversationTurn, ...] = ()


@dataclass(frozen=True, slots=True)
class Clients:
    """The downstream services."""

    llm: LlmClient
    tts: TtsClient
    animator: AnimatorClient
    enhancer: EnhancerClient
