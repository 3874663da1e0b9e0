"""Adversarial text through Speak: refused at once when over the limit, else split in time.

Splitters built on backtracking regular expressions can take tens of seconds on short
crafted text; the gateway's own splitter is linear. Over the text limit a request is
refused before any splitting; under it, the first sentence (or a refusal) comes within
a few seconds even on a loaded machine (a backtracking splitter takes tens), every piece
fits the synthesiser's limit, and the gateway stays healthy.
"""

from __future__ import annotations

import time

import grpc
import pytest

from avatar.gateway.v1 import gateway_pb2
from tests.reliability.harness import assert_still_serving

pytestmark = pytest.mark.asyncio(loop_scope="session")

PATTERNS = {
    "brackets of numbers": "..[111 111 ",
    "dots": ".",
    "dots and spaces": ". ",
    "numbered dots": "1.",
    "one-letter sentences": "a. ",
    "titles": "Mr. ",
    "question marks": "?!",
    "one long word": "x",
    "clauses": "x, ",
    "CJK full stops": "。",
    "quotes and brackets": '"(',
    "blank lines": "\n\n",
}
LIMIT = 2000  # the gateway's default AVATAR_GATEWAY_MAX_TEXT_CHARS


def _repeat(pattern: str, size: int) -> str:
    return (pattern * (size // len(pattern) + 1))[:size]


@pytest.mark.parametrize("pattern", list(PATTERNS.values()), ids=list(PATTERNS))
async def test_100_kb_of_adversarial_text_is_refused_at_once(shared, pattern):
    text = "a" + _repeat(pattern, 100_000) + "a"  # letters at both ends: nothing to strip
    request = gateway_pb2.SpeakRequest(avatar_id=shared.avatar_id, text=text)
    started = time.perf_counter()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in shared.stubs.gateway.Speak(request, timeout=10):
            pass
    # A bound against hanging, not a speed goal (those live in benchmarks/): loose enough
    # for a machine busy with other work, far below what a backtracking splitter takes.
    assert time.perf_counter() - started < 5.0
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"the limit is {LIMIT}" in caught.value.details()


@pytest.mark.parametrize("mode", ["speak", "chat"])
@pytest.mark.parametrize("pattern", list(PATTERNS.values()), ids=list(PATTERNS))
async def test_adversarial_text_under_the_limit_is_split_or_refused_promptly(shared, pattern, mode):
    text = _repeat(pattern, LIMIT - 100)
    request = gateway_pb2.SpeakRequest(
        avatar_id=shared.avatar_id,
        text=text,
        mode=gateway_pb2.SPEAK_MODE_CHAT if mode == "chat" else gateway_pb2.SPEAK_MODE_SPEAK,
    )
    started = time.perf_counter()
    call = shared.stubs.gateway.Speak(request, timeout=30)
    try:
        async for event in call:
            if event.HasField("sentence"):
                assert 0 < len(event.sentence.text) <= 300
                break
    except grpc.aio.AioRpcError as error:
        # Only text with nothing to say may be refused, and with a clear reason.
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
        assert not any(character.isalnum() for character in text)
        reason = "text is empty" if text.isspace() else "nothing to speak"
        assert reason in error.details()
    finally:
        call.cancel()
    # A bound against hanging, not a speed goal (those live in benchmarks/): loose enough
    # for a machine busy with other work, far below what a backtracking splitter takes.
    assert time.perf_counter() - started < 5.0
    await assert_still_serving(shared.stack, "gateway")
