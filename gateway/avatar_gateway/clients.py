"""One thin client per downstream service; each owns its channel.

Every call takes the remaining deadline of the gateway's own call, so deadlines
propagate, and failures surface as :class:`StageError` naming the stage, so the
gateway can answer e.g. UNAVAILABLE "animator stage unavailable: ...".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import grpc

from avatar.animator.v1 import animator_pb2, animator_pb2_grpc
from avatar.asr.v1 import asr_pb2, asr_pb2_grpc
from avatar.enhancer.v1 import enhancer_pb2, enhancer_pb2_grpc
from avatar.llm.v1 import llm_pb2, llm_pb2_grpc
from avatar.tts.v1 import tts_pb2, tts_pb2_grpc
from avatar_core.config import ClientTls
from avatar_core.tls import aio_channel

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
# Longest pause between reconnection attempts to a service that went away (plus 20 %
# jitter); DEFAULT_CONNECT_WAIT_SECONDS covers one such pause.
MAX_RECONNECT_BACKOFF_MS = 1000
DEFAULT_CONNECT_WAIT_SECONDS = 1.5
# How long an animator replica that a call found unavailable is passed over (while
# another serves) unless its channel connects again.
UNAVAILABLE_MEMORY_SECONDS = 5.0
# What grpcio's asyncio client reports when a message could not be written because
# the connection broke (the service died mid-stream): the service's own status, if it
# sent one, is lost (grpc/grpc#36066).
BROKEN_WRITE = (grpc.StatusCode.INTERNAL, "Internal error from Core")
AnimateRequests = AsyncIterator[animator_pb2.AnimateRequest] | Iterable[animator_pb2.AnimateRequest]
"""What an Animate call reads its requests from."""


class StageError(Exception):
    """A downstream stage failed.

    Attributes:
        stage: ``"llm"``, ``"tts"``, ``"animator"``, ``"enhancer"`` or ``"asr"``: the
            name of the service, as in the per-stage times of a Speak summary.
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
        if (code, error.details()) == BROKEN_WRITE:
            code = grpc.StatusCode.UNAVAILABLE
            details = f"{service} service unavailable: the connection broke while sending to it"
        elif code == grpc.StatusCode.UNAVAILABLE:
            details = f"{service} service unavailable: {error.details()}"
        elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
            details = f"{service} service did not answer within the deadline"
        else:
            details = error.details() or code.name
        return cls(stage, code, details)


def _channel(address: str, tls: ClientTls | None) -> grpc.aio.Channel:
    return aio_channel(
        address,
        tls,
        options=[
            # Frame batches and photos exceed gRPC's 4 MiB default.
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            # Several replicas behind one DNS name: spread calls over all of them.
            ("grpc.lb_policy_name", "round_robin"),
            # Reconnect soon after a restarted service comes back.
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", MAX_RECONNECT_BACKOFF_MS),
        ],
    )


class _Client:
    """Base of the per-service clients: a channel, a stage name and error mapping.

    Args:
        address: ``host:port`` of the service.
        connect_wait_seconds: How long a call waits for a disconnected channel to
            connect before it is made (0: not at all).
        tls: TLS (mutual TLS with a client certificate) to the service; None
            talks plaintext.
    """

    stage = ""
    service = ""

    def __init__(
        self,
        address: str,
        *,
        connect_wait_seconds: float = DEFAULT_CONNECT_WAIT_SECONDS,
        tls: ClientTls | None = None,
    ) -> None:
        self.address = address
        self.connect_wait_seconds = connect_wait_seconds
        self.channel = _channel(address, tls)

    async def close(self) -> None:
        """Closes the channel."""
        await self.channel.close()

    async def wait_until_connected(self, timeout: float | None) -> float | None:
        """Waits a little for a disconnected channel to connect; returns the time left.

        A channel whose service went away retries with backoff and, until it
        reconnects, fails calls at once. Waiting up to ``connect_wait_seconds`` (and
        never past ``timeout``) lets a service that is back serve the very next call;
        one still down fails it with UNAVAILABLE after that wait.
        """
        state = self.channel.get_state(try_to_connect=True)
        if state == grpc.ChannelConnectivity.READY or self.connect_wait_seconds <= 0:
            return timeout
        started = time.monotonic()
        limit = (
            self.connect_wait_seconds
            if timeout is None
            else min(self.connect_wait_seconds, timeout)
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.channel.channel_ready(), limit)
        return None if timeout is None else max(0.0, timeout - (time.monotonic() - started))

    async def _stream(
        self, start: Callable[[float | None], Any], timeout: float | None
    ) -> AsyncIterator[Any]:
        call = start(await self.wait_until_connected(timeout))
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

    def __init__(self, address: str, **options: Any) -> None:
        super().__init__(address, **options)
        self._stub = llm_pb2_grpc.LlmServiceStub(self.channel)

    def chat(self, request: llm_pb2.ChatRequest, timeout: float | None) -> AsyncIterator[Any]:
        """Streams the answer events of one chat message."""
        return self._stream(lambda left: self._stub.Chat(request, timeout=left), timeout)


class TtsClient(_Client):
    """Client of ``avatar.tts.v1.TtsService``."""

    stage = "tts"
    service = "tts"

    def __init__(self, address: str, **options: Any) -> None:
        super().__init__(address, **options)
        self._stub = tts_pb2_grpc.TtsServiceStub(self.channel)

    def synthesize(
        self, request: tts_pb2.SynthesizeRequest, timeout: float | None
    ) -> AsyncIterator[tts_pb2.SynthesizeResponse]:
        """Streams audio and timing events of one utterance."""
        return self._stream(lambda left: self._stub.Synthesize(request, timeout=left), timeout)

    async def list_voices(self, timeout: float | None) -> tts_pb2.ListVoicesResponse:
        """The service's voices: name, language, sample rate, whether each is ready."""
        left = await self.wait_until_connected(timeout)
        try:
            return await self._stub.ListVoices(tts_pb2.ListVoicesRequest(), timeout=left)
        except grpc.aio.AioRpcError as error:
            raise StageError.from_rpc_error(self.stage, self.service, error) from None


class _AnimatorReplica(_Client):
    """One animator server: its channel, stub and the streams it has in flight."""

    stage = "animator"
    service = "animator"

    def __init__(self, address: str, **options: Any) -> None:
        super().__init__(address, **options)
        self.stub = animator_pb2_grpc.AnimatorServiceStub(self.channel)
        self.in_flight = 0
        self.unavailable_at = -math.inf

    @property
    def failing(self) -> bool:
        """Whether the server seems down: its channel fails to connect, or a call found it
        unavailable lately and it has not connected since."""
        state = self.channel.get_state(try_to_connect=False)
        if state == grpc.ChannelConnectivity.TRANSIENT_FAILURE:
            return True
        recent = time.monotonic() - self.unavailable_at < UNAVAILABLE_MEMORY_SECONDS
        return recent and state != grpc.ChannelConnectivity.READY

    def note(self, error: StageError) -> None:
        """Remembers a call that found the server unavailable."""
        if error.code == grpc.StatusCode.UNAVAILABLE:
            self.unavailable_at = time.monotonic()

    async def prepare(
        self, image: bytes, timeout: float | None
    ) -> animator_pb2.PrepareAvatarResponse:
        """PrepareAvatar on this server, counted in flight while it runs."""
        self.in_flight += 1
        try:
            left = await self.wait_until_connected(timeout)
            return await self.stub.PrepareAvatar(
                animator_pb2.PrepareAvatarRequest(image=image), timeout=left
            )
        except grpc.aio.AioRpcError as error:
            failure = StageError.from_rpc_error(self.stage, self.service, error)
            self.note(failure)
            raise failure from None
        finally:
            self.in_flight -= 1

    async def animate(
        self,
        requests: AnimateRequests,
        timeout: float | None,
    ) -> AsyncIterator[animator_pb2.AnimateResponse]:
        """An Animate stream on this server, counted in flight until it ends."""
        self.in_flight += 1
        try:
            stream = self._stream(lambda left: self.stub.Animate(requests, timeout=left), timeout)
            async for response in stream:
                yield response
        except StageError as error:
            self.note(error)
            raise
        finally:
            self.in_flight -= 1


class AnimatorClient:
    """Client of ``avatar.animator.v1.AnimatorService``, over one server or several.

    Args:
        address: ``host:port`` of the animator, or several, comma-separated: replicas of
            it (each renders on its own cores). Each call goes to the replica with the
            fewest calls in flight, taking turns among equals and passing over one that
            is down while another is up; a replica prepares a face it has not seen from
            the photo that every stream carries.
        options: As for the other clients (``connect_wait_seconds``, ``tls``).

    Raises:
        ValueError: ``address`` names no server.
    """

    stage = "animator"
    service = "animator"

    def __init__(self, address: str, **options: Any) -> None:
        addresses = [part.strip() for part in address.split(",") if part.strip()]
        if not addresses:
            raise ValueError(f"the animator address names no server: {address!r}")
        self.address = address
        self.replicas = [_AnimatorReplica(each, **options) for each in addresses]
        self._turn = 0
        self._warming: set[asyncio.Future] = set()

    async def close(self) -> None:
        """Stops preparing faces in the background and closes the channels."""
        for task in list(self._warming):
            task.cancel()
        await asyncio.gather(*self._warming, return_exceptions=True)
        for replica in self.replicas:
            await replica.close()

    def _pick(self) -> _AnimatorReplica:
        """The replica for the next call: the least busy of those not down."""
        candidates = [r for r in self.replicas if not r.failing] or self.replicas
        fewest = min(replica.in_flight for replica in candidates)
        count = len(self.replicas)
        for step in range(count):
            replica = self.replicas[(self._turn + step) % count]
            if replica in candidates and replica.in_flight == fewest:
                self._turn = (self._turn + step + 1) % count
                return replica
        raise AssertionError("no replica to pick")  # unreachable: candidates is not empty

    async def prepare(
        self, image: bytes, timeout: float | None
    ) -> animator_pb2.PrepareAvatarResponse:
        """Finds the face and landmarks of a photo; the answer is the least busy replica's.

        The other replicas (those not down) prepare it at the same time, in the
        background, each on its own cores, so the first stream any of them gets for this
        face starts warm; their answers (or failures) do not change this one's.
        """
        replica = self._pick()
        for other in self.replicas:
            if other is not replica and not other.failing:
                task = asyncio.ensure_future(other.prepare(image, timeout))
                self._warming.add(task)
                task.add_done_callback(self._warmed)
        return await replica.prepare(image, timeout)

    def _warmed(self, task: asyncio.Future) -> None:
        self._warming.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.info("an animator replica did not prepare the face: %s", task.exception())

    async def animate(
        self,
        requests: AnimateRequests,
        timeout: float | None,
    ) -> AsyncIterator[animator_pb2.AnimateResponse]:
        """Streams frames for a stream of speech, from the least busy replica (chosen
        when the stream starts)."""
        async for response in self._pick().animate(requests, timeout):
            yield response


class EnhancerClient(_Client):
    """Client of ``avatar.enhancer.v1.EnhancerService``."""

    stage = "enhancer"
    service = "enhancer"

    def __init__(self, address: str, **options: Any) -> None:
        super().__init__(address, **options)
        self._stub = enhancer_pb2_grpc.EnhancerServiceStub(self.channel)

    def enhance(
        self, requests: AsyncIterator[enhancer_pb2.EnhanceRequest], timeout: float | None
    ) -> AsyncIterator[enhancer_pb2.EnhanceResponse]:
        """Streams enhanced frame batches for a stream of batches."""
        return self._stream(lambda left: self._stub.Enhance(requests, timeout=left), timeout)


class AsrClient(_Client):
    """Client of ``avatar.asr.v1.AsrService`` (speech input of live sessions)."""

    stage = "asr"
    service = "asr"

    def __init__(self, address: str, **options: Any) -> None:
        super().__init__(address, **options)
        self._stub = asr_pb2_grpc.AsrServiceStub(self.channel)

    def transcribe(
        self, requests: AsyncIterator[asr_pb2.TranscribeRequest], timeout: float | None
    ) -> AsyncIterator[asr_pb2.TranscribeResponse]:
        """Streams voice activity and transcripts for a stream of audio."""
        return self._stream(lambda left: self._stub.Transcribe(requests, timeout=left), timeout)
