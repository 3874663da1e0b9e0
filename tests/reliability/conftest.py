"""One in-process stack shared by the bad-input tables, with stubs and a ready avatar."""

from __future__ import annotations

from dataclasses import dataclass

import pytest_asyncio

from avatar.animator.v1 import animator_pb2, animator_pb2_grpc
from avatar.enhancer.v1 import enhancer_pb2_grpc
from avatar.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from avatar.llm.v1 import llm_pb2_grpc
from avatar.tts.v1 import tts_pb2_grpc
from tests.reliability.harness import PHOTO, ReliabilityStack, running_stack

IMAGE_CAP_BYTES = 200_000
"""Photo size limit of the shared stack's gateway and animator (the sample photo is 51 kB)."""

# Besides the default voices: one for Chinese and one for Arabic text.
ESPEAK_VOICES = "en-us,en-gb,hr,zh=cmn,ar"


@dataclass
class Stubs:
    """A stub per service, over one channel each."""

    gateway: gateway_pb2_grpc.GatewayServiceStub
    llm: llm_pb2_grpc.LlmServiceStub
    tts: tts_pb2_grpc.TtsServiceStub
    animator: animator_pb2_grpc.AnimatorServiceStub
    enhancer: enhancer_pb2_grpc.EnhancerServiceStub


@dataclass
class Shared:
    """The shared stack, its stubs, an avatar and the photo's content hash."""

    stack: ReliabilityStack
    stubs: Stubs
    avatar_id: str
    content_hash: str


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def shared(tmp_path_factory) -> Shared:
    """The stack every bad-input table runs against, started once per test session."""
    environments = {
        "gateway": {"AVATAR_GATEWAY_MAX_IMAGE_BYTES": str(IMAGE_CAP_BYTES)},
        "animator": {"AVATAR_ANIMATOR_MAX_IMAGE_BYTES": str(IMAGE_CAP_BYTES)},
        "tts": {"AVATAR_TTS_ESPEAK_VOICES": ESPEAK_VOICES},
    }
    async with running_stack(tmp_path_factory.mktemp("shared"), environments) as stack:
        channels = {name: stack.channel(name) for name in stack.servers}
        stubs = Stubs(
            gateway=gateway_pb2_grpc.GatewayServiceStub(channels["gateway"]),
            llm=llm_pb2_grpc.LlmServiceStub(channels["llm"]),
            tts=tts_pb2_grpc.TtsServiceStub(channels["tts"]),
            animator=animator_pb2_grpc.AnimatorServiceStub(channels["animator"]),
            enhancer=enhancer_pb2_grpc.EnhancerServiceStub(channels["enhancer"]),
        )
        avatar = await stubs.gateway.CreateAvatar(
            gateway_pb2.CreateAvatarRequest(image=PHOTO, display_name="shared"), timeout=60
        )
        prepared = await stubs.animator.PrepareAvatar(
            animator_pb2.PrepareAvatarRequest(image=PHOTO), timeout=60
        )
        yield Shared(stack, stubs, avatar.avatar_id, prepared.content_hash)
        for channel in channels.values():
            await channel.close()
