"""Each server's message size limit, probed 128 bytes below and above.

Every server is configured with ``AVATAR_<SERVICE>_MAX_MESSAGE_BYTES`` = 256 KiB. A request
128 bytes under it reaches the service (which then answers as it would any request);
128 bytes over it is refused by gRPC itself with RESOURCE_EXHAUSTED, and the server
keeps serving.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest
import pytest_asyncio
from google.protobuf.message import Message

from avatar.animator.v1 import animator_pb2, animator_pb2_grpc
from avatar.common.v1 import media_pb2
from avatar.enhancer.v1 import enhancer_pb2, enhancer_pb2_grpc
from avatar.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from avatar.llm.v1 import llm_pb2, llm_pb2_grpc
from avatar.tts.v1 import tts_pb2, tts_pb2_grpc
from tests.reliability.harness import (
    assert_still_serving,
    running_stack,
    settled_outcome,
    small_frame_batch,
)
from tests.reliability.inputs import NOT_AN_IMAGE, padded_jpeg
from tests.support.races import paced

pytestmark = pytest.mark.asyncio(loop_scope="session")

LIMIT = 256 * 1024
MARGIN = 128
OK = grpc.StatusCode.OK
INVALID = grpc.StatusCode.INVALID_ARGUMENT


def of_size(build: Callable[[int], Message], size: int) -> Message:
    """Builds a message whose serialised size is exactly ``size`` bytes.

    Args:
        build: Makes the message with a payload of the given length.
        size: The wanted ``ByteSize()``.
    """
    length = size
    for _ in range(8):
        message = build(length)
        excess = message.ByteSize() - size
        if excess == 0:
            return message
        length -= excess
    raise AssertionError(f"no payload length gives a {size}-byte message")


def _padded_frame_batch(length: int) -> media_pb2.FrameBatch:
    frame = small_frame_batch().frames[0]
    frame.data += bytes(max(0, length - len(frame.data)))  # decoders stop at the JPEG's end
    return media_pb2.FrameBatch(frames=[frame], fps=25.0)


def _gateway(channel, size):
    request = of_size(
        lambda n: gateway_pb2.CreateAvatarRequest(image=(NOT_AN_IMAGE * (n // 800 + 1))[:n]),
        size,
    )
    return gateway_pb2_grpc.GatewayServiceStub(channel).CreateAvatar(request, timeout=30)


def _llm(channel, size):
    request = of_size(lambda n: llm_pb2.ChatRequest(message="a" * n), size)
    return llm_pb2_grpc.LlmServiceStub(channel).Chat(request, timeout=30)


def _tts(channel, size):
    request = of_size(lambda n: tts_pb2.SynthesizeRequest(text="a" * n), size)
    return tts_pb2_grpc.TtsServiceStub(channel).Synthesize(request, timeout=30)


def _animator(channel, size):
    request = of_size(lambda n: animator_pb2.PrepareAvatarRequest(image=padded_jpeg(n)), size)
    return animator_pb2_grpc.AnimatorServiceStub(channel).PrepareAvatar(request, timeout=30)


def _enhancer(channel, size):
    frames = of_size(lambda n: enhancer_pb2.EnhanceRequest(frames=_padded_frame_batch(n)), size)
    requests = [
        enhancer_pb2.EnhanceRequest(config=enhancer_pb2.EnhanceConfig()),
        frames,
        enhancer_pb2.EnhanceRequest(end=enhancer_pb2.EnhanceInputEnd()),
    ]
    return enhancer_pb2_grpc.EnhancerServiceStub(channel).Enhance(paced(requests), timeout=30)


# What the service itself answers to the request just under the limit.
UNDER_THE_LIMIT = {
    "gateway": (_gateway, INVALID, "not an image"),
    "llm": (_llm, INVALID, "at most 4000 are accepted"),
    "tts": (_tts, INVALID, "the limit is 2000"),
    "animator": (_animator, OK, ""),
    "enhancer": (_enhancer, OK, ""),
}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def limited_stack(tmp_path_factory):
    environments = {
        service: {f"AVATAR_{service.upper()}_MAX_MESSAGE_BYTES": str(LIMIT)}
        for service in UNDER_THE_LIMIT
    }
    # Speaker samples must fit in a message: the tts service checks that at start.
    environments["tts"]["AVATAR_TTS_MAX_SPEAKER_SAMPLE_BYTES"] = str(LIMIT // 2)
    async with running_stack(tmp_path_factory.mktemp("limits"), environments) as stack:
        yield stack


@pytest.mark.parametrize("service", list(UNDER_THE_LIMIT))
async def test_just_under_the_limit_passes_and_just_over_is_resource_exhausted(
    limited_stack, service
):
    call, code_under, fragment = UNDER_THE_LIMIT[service]
    async with limited_stack.channel(service) as channel:
        under = await settled_outcome(lambda: call(channel, LIMIT - MARGIN))
        over = await settled_outcome(lambda: call(channel, LIMIT + MARGIN))
    assert under[0] == code_under and fragment in under[1], under
    assert over[0] == grpc.StatusCode.RESOURCE_EXHAUSTED, over
    assert f"larger than max ({LIMIT + MARGIN} vs. {LIMIT})" in over[1]
    await assert_still_serving(limited_stack, service)
