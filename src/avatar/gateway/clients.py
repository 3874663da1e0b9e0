"""One thin client per downstream service; each owns its channel.

Every call takes the remaining deadline of the gateway's own call, so deadlines
propagate, and failures surface as :class:`StageError` naming the stage, so the
gateway can answer e.g. UNAVAILABLE "animator stage unavailable: ...".
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import grpc

from avatar.animator.v1 import animator_pb2, animator_pb2_grpc
from avatar.enhancer.v1 import enhancer_pb2, enhancer_pb2_grpc
from avatar.llm.v1 import llm_pb2, llm_pb2_grpc
from avatar.tts.v1 import tts_pb2, tts_pb2_grpc

MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class StageError(Exception):
    """A downstream stage failed.

    Attributes:
        stage: ``"llm"``, ``"tts"``, ``"animate"`` or ``"enhance"``.
        code: The gRPC status code to answer with.
        details: The downstream service's message.
    """

    def __init__(self, stage: str, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{stage} stage: {details}")
        self.stage = stage
        self.code = code
        self.details = details

    @classmethod
    def from_rpc_error(cls, stage: str, service: str, error: grpc.aio.AioRpcError) -> StageError:
        """Converts a downstream RPC error, naming the stage and service."""
        code = error.code()
        if code == grpc.StatusCode.UNAVAILABLE:
            details = f"{service} service unavailable: {error.details()}"
        elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
            details = f"{service} service did not answer within the deadline"
        else:
            details = error.details() or code.name
        return cls(stage, code, details)


def _channel(address: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(
        address,
        options=[
            # Frame batches and photos exceed gRPC's 4 MiB default.
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            # Several replicas behind one DNS name: spread calls over all of them.
            ("grpc.lb_policy_name", "round_robin"),
            # Reconnect soon after a restarted service comes back.
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 2000),
        ],
    )


class _Client:
    """Base of the per-service clients: a channel, a stage name and error mapping."""

    stage = ""
    service = ""

    def __init__(self, address: str) -> None:
        self.address = address
        self.channel = _channel(address)

    async def close(self) -> None:
        """Closes the channel."""
        await self.channel.close()

    async def _stream(self, call: Any) -> AsyncIterator[Any]:
        try:
            async for response in call:
                yield response
        except grpc.aio.AioRpcError as error:
            raise StageError.from_rpc_error(self.stage, self.service, error) from None
        finally:
            call.cancel()


class LlmClient(_Client):
    """Client of ``avatar.llm.v1.LlmService``."""

    stage = "llm"
    service = "llm"

    def __init__(self, address: str) -> None:
        super().__init__(address)
        self._stub = llm_pb2_grpc.LlmServiceStub(self.channel)

    def chat(self, request: llm_pb2.ChatRequest, timeout: float | None) -> AsyncIterator[Any]:
        """Streams the answer events of one chat message."""
        return self._stream(self._stub.Chat(request, timeout=timeout))


class TtsClient(_Client):
    """Client of ``avatar.tts.v1.TtsService``."""

    stage = "tts"
    service = "tts"

    def __init__(self, address: str) -> None:
        super().__init__(address)
        self._stub = tts_pb2_grpc.TtsServiceStub(self.channel)

    def synthesize(
        self, request: tts_pb2.SynthesizeRequest, timeout: float | None
    ) -> AsyncIterator[tts_pb2.SynthesizeResponse]:
        """Streams audio and timing events of one utterance."""
        return self._stream(self._stub.Synthesize(request, timeout=timeout))


class AnimatorClient(_Client):
    """Client of ``avatar.animator.v1.AnimatorService``."""

    stage = "animate"
    service = "animator"

    def __init__(self, address: str) -> None:
        super().__init__(address)
        self._stub = animator_pb2_grpc.AnimatorServiceStub(self.channel)

    async def prepare(
        self, image: bytes, timeout: float | None
    ) -> animator_pb2.PrepareAvatarResponse:
        """Finds the face and landmarks of a photo."""
        try:
            return await self._stub.PrepareAvatar(
                animator_pb2.PrepareAvatarRequest(image=image), timeout=timeout
            )
        except grpc.aio.AioRpcError as error:
            raise StageError.from_rpc_error(self.stage, self.service, error) from None

    def animate(
        self,
        requests: AsyncIterator[animator_pb2.AnimateRequest]
        | Iterable[animator_pb2.AnimateRequest],
        timeout: float | None,
    ) -> AsyncIterator[animator_pb2.AnimateResponse]:
        """Streams frames for a stream of speech."""
        return self._stream(self._stub.Animate(requests, timeout=timeout))


class EnhancerClient(_Client):
    """Client of ``avatar.enhancer.v1.EnhancerService``."""

    stage = "enhance"
    service = "enhancer"

    def __init__(self, address: str) -> None:
        super().__init__(address)
        self._stub = enhancer_pb2_grpc.EnhancerServiceStub(self.channel)

    def enhance(
        self, requests: AsyncIterator[enhancer_pb2.EnhanceRequest], timeout: float | None
    ) -> AsyncIterator[enhancer_pb2.EnhanceResponse]:
        """Streams enhanced frame batches for a stream of batches."""
        return self._stream(self._stub.Enhance(requests, timeout=timeout))
