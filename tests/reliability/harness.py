"""An in-process avatar stack for reliability tests, and helpers to judge calls.

:func:`running_stack` starts the four services and the gateway in this process on
free ports (metrics read straight from each server's registry), with a fake
OpenAI-compatible model behind the llm service. :func:`outcome` runs any call to its
end and returns its status; :func:`assert_still_serving` proves a service is healthy
after abuse: health says SERVING and a normal request succeeds.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from avatar.animator.v1 import animator_pb2, animator_pb2_grpc
from avatar.common.v1 import media_pb2
from avatar.enhancer.v1 import enhancer_pb2, enhancer_pb2_grpc
from avatar.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from avatar.llm.v1 import llm_pb2, llm_pb2_grpc
from avatar.tts.v1 import tts_pb2, tts_pb2_grpc
from avatar_core.frames import encode_frame
from avatar_core.server import AvatarServer
from avatar_devtools.fake_openai import FakeOpenAI, Reply, echo_reply
from tests.support.races import CLIENT_WRITE_RACE
from tests.support.services import in_process_server

PHOTO = (resources.files("avatar_devtools") / "assets" / "sample_face.jpg").read_bytes()
DOWNSTREAM = ("llm", "tts", "animator", "enhancer")
SERVICE_NAMES = {
    "gateway": "avatar.gateway.v1.GatewayService",
    "llm": "avatar.llm.v1.LlmService",
    "tts": "avatar.tts.v1.TtsService",
    "animator": "avatar.animator.v1.AnimatorService",
    "enhancer": "avatar.enhancer.v1.EnhancerService",
}
# Channel limits above every server's, so the servers' own limits are what is tested.
CLIENT_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
]


@dataclass
class ReliabilityStack:
    """The running servers and the fake model.

    Attributes:
        servers: Server of each service name.
        fake_llm: The OpenAI-compatible model the llm service talks to.
        avatar_dir: The gateway's avatar store.
    """

    servers: dict[str, AvatarServer]
    fake_llm: FakeOpenAI
    avatar_dir: Path

    def address(self, service: str) -> str:
        """``host:port`` of a service."""
        return f"127.0.0.1:{self.servers[service].port}"

    def channel(self, service: str) -> grpc.aio.Channel:
        """A new channel to a service (close it, or use it with ``async with``)."""
        return grpc.aio.insecure_channel(self.address(service), options=CLIENT_OPTIONS)

    def metric(self, service: str, name: str, **labels: str) -> float:
        """Sums the samples of ``name`` on a service whose labels include ``labels``."""
        total = 0.0
        for family in self.servers[service].registry.collect():
            for sample in family.samples:
                if sample.name == name and labels.items() <= sample.labels.items():
                    total += sample.value
        return total

    def calls_in_flight(self, service: str) -> float:
        """RPCs a service has started but not finished (health checks excluded)."""
        started = self.metric(service, "grpc_server_started_total")
        handled = self.metric(service, "grpc_server_handled_total")
        return started - handled


@contextlib.asynccontextmanager
async def running_stack(
    tmp_path: Path,
    environments: Mapping[str, Mapping[str, str]] | None = None,
    llm_chunk_delay: float = 0.0,
    *,
    with_asr: bool = False,
    llm_reply: Reply = echo_reply,
) -> AsyncIterator[ReliabilityStack]:
    """Runs llm, tts, animator, enhancer and a gateway wired to them, in this process.

    Args:
        tmp_path: Where the avatar store goes.
        environments: Extra ``AVATAR_*`` variables per service name.
        llm_chunk_delay: Seconds the fake model waits before each streamed word.
        with_asr: Also runs the asr service, and gives the gateway its address.
        llm_reply: How the fake model answers.
    """
    environments = environments or {}
    fake = FakeOpenAI(chunk_delay=llm_chunk_delay, reply=llm_reply)
    async with contextlib.AsyncExitStack() as stack:
        stack.enter_context(fake)
        servers: dict[str, AvatarServer] = {}
        llm_environment = {
            "AVATAR_LLM_BASE_URL": fake.base_url,
            "AVATAR_LLM_MODEL": "fake-model",
            **environments.get("llm", {}),
        }
        for service in DOWNSTREAM + (("asr",) if with_asr else ()):
            environment = llm_environment if service == "llm" else environments.get(service, {})
            servers[service] = await stack.enter_async_context(
                in_process_server(service, environment)
            )
        avatar_dir = tmp_path / "avatars"
        gateway_environment = {
            f"AVATAR_GATEWAY_{service.upper()}_ADDRESS": f"127.0.0.1:{servers[service].port}"
            for service in servers
        }
        gateway_environment["AVATAR_GATEWAY_AVATAR_DIR"] = str(avatar_dir)
        gateway_environment["AVATAR_GATEWAY_IDLE_CLIP_SECONDS"] = "0.5"
        gateway_environment.update(environments.get("gateway", {}))
        servers["gateway"] = await stack.enter_async_context(
            in_process_server("gateway", gateway_environment)
        )
        yield ReliabilityStack(servers, fake, avatar_dir)


async def outcome(call: Any) -> tuple[grpc.StatusCode, str]:
    """Runs a call to its end (awaiting it, or reading every response of a stream).

    Returns:
        The status code and details; ``(OK, "")`` on success.
    """
    try:
        if hasattr(call, "__aiter__"):
            async for _ in call:
                pass
        else:
            await call
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details() or ""
    return grpc.StatusCode.OK, ""


async def settled_outcome(
    make_call: Callable[[], Any], attempts: int = 5
) -> tuple[grpc.StatusCode, str]:
    """Like :func:`outcome`, but repeats a call that hit :data:`CLIENT_WRITE_RACE`."""
    for _ in range(attempts - 1):
        result = await outcome(make_call())
        if result != CLIENT_WRITE_RACE:
            return result
    return await outcome(make_call())


def server_errors(stack: ReliabilityStack) -> float:
    """Calls any server of the stack answered with INTERNAL or UNKNOWN."""
    return sum(
        stack.metric(service, "grpc_server_handled_total", grpc_code=code)
        for service in stack.servers
        for code in ("INTERNAL", "UNKNOWN")
    )


@dataclass(frozen=True)
class Case:
    """One row of a bad-input table.

    Attributes:
        name: What is wrong with the input.
        service: The service called (checked for health afterwards).
        call: Makes the call, given the shared fixture (with ``stubs`` and ids).
        code: The status the caller must get.
        fragment: Text the status message must contain.
    """

    name: str
    service: str
    call: Callable[[Any], Any]
    code: grpc.StatusCode
    fragment: str


async def check_case(shared: Any, case: Case) -> None:
    """Runs a bad-input case: right status and message, no server error, still serving."""
    errors_before = server_errors(shared.stack)
    code, details = await settled_outcome(lambda: case.call(shared))
    assert (code, case.fragment in details) == (case.code, True), f"{code.name}: {details}"
    assert server_errors(shared.stack) == errors_before
    await assert_still_serving(shared.stack, case.service)


async def health_status(address: str, service: str = "") -> int:
    """The standard health check's answer for ``service`` ("" = the whole server)."""
    async with grpc.aio.insecure_channel(address) as channel:
        response = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=5
        )
    return response.status


def small_frame_batch(index: int = 0, count: int = 1) -> media_pb2.FrameBatch:
    """A few 64 x 64 JPEG frames with some texture."""
    rng = np.random.default_rng(index)
    frames = [
        encode_frame(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), index + offset)
        for offset in range(count)
    ]
    return media_pb2.FrameBatch(frames=frames, fps=25.0)


def enhance_requests(*payload: enhancer_pb2.EnhanceRequest) -> list[enhancer_pb2.EnhanceRequest]:
    """config, the payload, end."""
    return [
        enhancer_pb2.EnhanceRequest(config=enhancer_pb2.EnhanceConfig()),
        *payload,
        enhancer_pb2.EnhanceRequest(end=enhancer_pb2.EnhanceInputEnd()),
    ]


def silence_requests(
    photo: bytes = PHOTO, seconds: float = 0.2, sample_rate: int = 16000
) -> list[animator_pb2.AnimateRequest]:
    """An Animate stream of silence for ``photo``: config, one audio chunk, end."""
    return [
        animator_pb2.AnimateRequest(
            config=animator_pb2.AnimateConfig(image=photo, sample_rate=sample_rate)
        ),
        animator_pb2.AnimateRequest(
            audio=media_pb2.AudioChunk(pcm=bytes(2 * round(seconds * sample_rate)))
        ),
        animator_pb2.AnimateRequest(end=animator_pb2.AnimateInputEnd()),
    ]


async def normal_request(service: str, channel: grpc.aio.Channel) -> None:
    """Makes one ordinary, valid request to ``service``; raises when it fails."""
    if service == "llm":
        stub = llm_pb2_grpc.LlmServiceStub(channel)
        responses = [r async for r in stub.Chat(llm_pb2.ChatRequest(message="Hello"), timeout=30)]
        assert responses[-1].end.text
    elif service == "tts":
        stub = tts_pb2_grpc.TtsServiceStub(channel)
        request = tts_pb2.SynthesizeRequest(text="Hello there.")
        responses = [r async for r in stub.Synthesize(request, timeout=30)]
        assert responses[-1].end.total_samples > 0
    elif service == "animator":
        stub = animator_pb2_grpc.AnimatorServiceStub(channel)
        responses = [r async for r in stub.Animate(iter(silence_requests()), timeout=30)]
        assert responses[-1].end.frames == 5
    elif service == "enhancer":
        stub = enhancer_pb2_grpc.EnhancerServiceStub(channel)
        requests = enhance_requests(enhancer_pb2.EnhanceRequest(frames=small_frame_batch()))
        responses = [r async for r in stub.Enhance(iter(requests), timeout=30)]
        assert responses[-1].end.frames == 1
    else:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        await stub.ListAvatars(gateway_pb2.ListAvatarsRequest(), timeout=30)


async def assert_still_serving(stack: ReliabilityStack, service: str) -> None:
    """Health says SERVING for the server and its service, and a normal request succeeds."""
    address = stack.address(service)
    serving = health_pb2.HealthCheckResponse.SERVING
    assert await health_status(address) == serving
    assert await health_status(address, SERVICE_NAMES[service]) == serving
    async with stack.channel(service) as channel:
        await normal_request(service, channel)
