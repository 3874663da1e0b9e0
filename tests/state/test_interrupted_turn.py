"""An interrupted chat turn is remembered as what the avatar said, not as what was planned."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time

from avatar.gateway.v1 import gateway_pb2
from avatar_devtools.client import GatewayClient
from avatar_devtools.fake_openai import FakeOpenAI
from avatar_devtools.samples import sample_face
from avatar_gateway.conversations import DEFAULT_SQLITE_NAME, ConversationLimits
from avatar_gateway.conversations.sqlite_store import SqliteConversationStore
from tests.support.services import in_process_server

ANSWER = (
    "The first sentence is short. The second sentence takes a while longer to say. "
    "The third sentence is never heard at all."
)


def _words(text: str) -> list[str]:
    return re.sub(r"[^\w\s]", "", text).lower().split()


@contextlib.asynccontextmanager
async def _gateway(tmp_path, model: FakeOpenAI):
    llm_environment = {"AVATAR_LLM_BASE_URL": model.base_url, "AVATAR_LLM_MODEL": model.model}
    async with contextlib.AsyncExitStack() as stack:
        environment = {
            "AVATAR_GATEWAY_AVATAR_DIR": str(tmp_path / "avatars"),
            "AVATAR_GATEWAY_IDLE_CLIP_SECONDS": "0.5",
        }
        for service in ("llm", "tts", "animator"):
            server = await stack.enter_async_context(
                in_process_server(service, llm_environment if service == "llm" else None)
            )
            environment[f"AVATAR_GATEWAY_{service.upper()}_ADDRESS"] = f"127.0.0.1:{server.port}"
        gateway = await stack.enter_async_context(in_process_server("gateway", environment))
        yield await stack.enter_async_context(GatewayClient(f"127.0.0.1:{gateway.port}"))


async def _stored_turns(tmp_path, conversation: str, timeout: float = 10.0):
    """The conversation's turns as the gateway's embedded store has them, once it has one."""
    store = SqliteConversationStore(
        tmp_path / "avatars" / DEFAULT_SQLITE_NAME, ConversationLimits()
    )
    deadline = time.monotonic() + timeout
    try:
        while not (turns := await store.history(conversation)):
            assert time.monotonic() < deadline, "the interrupted turn was never stored"
            await asyncio.sleep(0.05)
        return turns
    finally:
        await store.close()


async def test_an_interrupted_turn_keeps_only_the_part_that_was_spoken(tmp_path):
    # A slow model: the third sentence is still being written when the client hangs up.
    model = FakeOpenAI(reply=lambda messages: ANSWER, chunk_delay=0.08)
    with model:
        async with _gateway(tmp_path, model) as client:
            avatar = await client.create_avatar(sample_face(), timeout=120)
            request = gateway_pb2.SpeakRequest(
                avatar_id=avatar.avatar_id,
                text="Tell me something long.",
                mode=gateway_pb2.SPEAK_MODE_CHAT,
                conversation_id="interrupted",
            )
            call = client.stub.Speak(request, timeout=120)
            async for event in call:
                # The second sentence starting means the first was sent whole.
                if event.WhichOneof("event") == "sentence" and event.sentence.index == 1:
                    call.cancel()
                    break
            [turn] = await _stored_turns(tmp_path, "interrupted")
            assert turn.user_text == "Tell me something long." and turn.interrupted
            assert turn.spoken_text.startswith("The first sentence is short.")
            # Then, perhaps, the words of the second sentence heard before the cancel.
            spoken_words = _words(turn.spoken_text)
            assert spoken_words == _words(ANSWER)[: len(spoken_words)]
            assert "third" not in spoken_words

            # The next turn tells the model what the avatar really said.
            await client.speak(
                gateway_pb2.SpeakRequest(
                    avatar_id=avatar.avatar_id,
                    text="Go on.",
                    mode=gateway_pb2.SPEAK_MODE_CHAT,
                    conversation_id="interrupted",
                ),
                timeout=120,
            )
    sent = [(m["role"], m["content"]) for m in model.requests[-1]["messages"][1:]]
    assert sent == [
        ("user", "Tell me something long."),
        ("assistant", turn.spoken_text),
        ("user", "Go on."),
    ]
