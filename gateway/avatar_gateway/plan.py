"""What one Speak request (or one turn of a live session) runs with: the validated
request and the downstream clients."""

from __future__ import annotations

from dataclasses import dataclass

from avatar.common.v1 import media_pb2
from avatar.gateway.v1 import gateway_pb2
from avatar_gateway.appearance import EnhancedStills
from avatar_gateway.clients import (
    AnimatorClient,
    AsrClient,
    EnhancerClient,
    LlmClient,
    TtsClient,
)
from avatar_gateway.conversations import ConversationTurn
from avatar_gateway.sentences import is_question


def answers_by_chat(mode: int, text: str) -> bool:
    """Whether a text in ``mode`` goes to the LLM: CHAT always, AUTO when it is a question."""
    return mode == gateway_pb2.SPEAK_MODE_CHAT or (
        mode == gateway_pb2.SPEAK_MODE_AUTO and is_question(text)
    )


@dataclass(frozen=True, slots=True)
class SpeakPlan:
    """A validated Speak request, ready to run.

    Attributes:
        text: The text to speak, or the message to answer in chat mode.
        chat: Whether the LLM answers ``text`` first.
        high_quality: Whether the frames are enhanced: drawn from the avatar's still,
            enhanced once, with the moving regions touched up per frame (by the animator
            for OpenCV, else by the enhancer; whole frames by the enhancer without kept
            stills).
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
        start_frame: Where the output's first frame lies on the avatar's motion
            timeline: the animator gives output frame ``j`` the idle motion (head,
            gaze, blinks) of frame ``start_frame + j``. A live session passes the
            session frame where the speech will play, so speech continues the idle
            loop; frame indices sent on still count from 0.
        loop_frames: When above 0, that motion repeats every ``loop_frames`` frames,
            as in the avatar's idle loop; 0 means no loop.
        frame_batch: Frames per batch the animator sends after the first (which goes
            alone); 0 leaves it the animator's default. A live session plays a frame per
            tick and asks for small batches: the frames after the first come sooner.
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
    start_frame: int = 0
    loop_frames: int = 0
    frame_batch: int = 0


@dataclass(frozen=True, slots=True)
class Clients:
    """The downstream services, and what high quality keeps of the enhancer's work.

    Attributes:
        stills: Each avatar's enhanced still; None enhances whole frames.
        asr: The asr service (speech input of live sessions); None when none is
            configured.
    """

    llm: LlmClient
    tts: TtsClient
    animator: AnimatorClient
    enhancer: EnhancerClient
    stills: EnhancedStills | None = None
    asr: AsrClient | None = None
