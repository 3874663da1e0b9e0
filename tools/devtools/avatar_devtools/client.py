"""A thin asyncio client of the public gateway API, used by the CLI and benchmarks."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from avatar.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from avatar_core.auth import bearer_metadata
from avatar_core.config import ClientTls
from avatar_core.tls import aio_channel

MAX_MESSAGE_BYTES = 64 * 1024 * 1024


@dataclass(slots=True)
class SpeakResult:
    """What one Speak call delivered, with timings measured at the client.

    Attributes:
        started: The stream's first event.
        sentences: Sentence events in order.
        audio: Every audio chunk's PCM, concatenated.
        frames: Number of frames received.
        mp4: The finished video, when asked for.
        summary: The server's summary.
        time_to_first_audio_seconds: From sending the request to the first audio chunk.
        time_to_first_frame_seconds: From sending the request to the first frame.
        total_seconds: From sending the request to the end of the stream.
    """

    started: gateway_pb2.SpeakStarted | None = None
    sentences: list[gateway_pb2.Sentence] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    frames: int = 0
    mp4: bytes = b""
    summary: gateway_pb2.SpeakSummary | None = None
    time_to_first_audio_seconds: float = 0.0
    time_to_first_frame_seconds: float = 0.0
    total_seconds: float = 0.0


class GatewayClient:
    """Owns a channel to the gateway.

    Args:
        address: ``host:port`` of the gateway.
        tls: TLS settings (the gateway's CA; a client certificate for mutual TLS);
            None talks plaintext.
        token: Bearer token sent with every call, for a gateway that requires one.
    """

    def __init__(self, address: str, tls: ClientTls | None = None, token: str = "") -> None:
        self.address = address
        self.metadata = bearer_metadata(token)
        self.channel = aio_channel(
            address,
            tls,
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ],
        )
        self.stub = gateway_pb2_grpc.GatewayServiceStub(self.channel)

    async def __aenter__(self) -> GatewayClient:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    async def close(self) -> None:
        """Closes the channel."""
        await self.channel.close()

    async def create_avatar(
        self, image: bytes, display_name: str = "", timeout: float = 120.0
    ) -> gateway_pb2.Avatar:
        """Creates an avatar from a photo."""
        request = gateway_pb2.CreateAvatarRequest(image=image, display_name=display_name)
        return await self.stub.CreateAvatar(request, timeout=timeout, metadata=self.metadata)

    async def get_avatar(
        self, avatar_id: str, include_media: bool = False, timeout: float = 10.0
    ) -> gateway_pb2.Avatar:
        """Returns one avatar, with its idle clip and poster when asked."""
        request = gateway_pb2.GetAvatarRequest(avatar_id=avatar_id, include_media=include_media)
        return await self.stub.GetAvatar(request, timeout=timeout, metadata=self.metadata)

    async def list_avatars(self, timeout: float = 10.0) -> list[gateway_pb2.Avatar]:
        """Lists the stored avatars."""
        response = await self.stub.ListAvatars(
            gateway_pb2.ListAvatarsRequest(), timeout=timeout, metadata=self.metadata
        )
        return list(response.avatars)

    async def delete_avatar(self, avatar_id: str, timeout: float = 10.0) -> None:
        """Deletes an avatar."""
        await self.stub.DeleteAvatar(
            gateway_pb2.DeleteAvatarRequest(avatar_id=avatar_id),
            timeout=timeout,
            metadata=self.metadata,
        )

    def speak_stream(
        self, request: gateway_pb2.SpeakRequest, timeout: float | None = None
    ) -> AsyncIterator[gateway_pb2.SpeakResponse]:
        """Returns the raw Speak event stream."""
        return self.stub.Speak(request, timeout=timeout, metadata=self.metadata)

    async def speak(
        self,
        request: gateway_pb2.SpeakRequest,
        timeout: float | None = 600.0,
        on_event=None,
    ) -> SpeakResult:
        """Runs Speak to the end and gathers what arrived, timing it at the client.

        Args:
            request: The Speak request.
            timeout: Deadline of the whole call, seconds.
            on_event: Called with (event, seconds since the request) for each event.
        """
        result = SpeakResult()
        mp4 = bytearray()
        start = time.perf_counter()
        async for event in self.stub.Speak(request, timeout=timeout, metadata=self.metadata):
            elapsed = time.perf_counter() - start
            kind = event.WhichOneof("event")
            if kind == "started":
                result.started = event.started
            elif kind == "sentence":
                result.sentences.append(event.sentence)
            elif kind == "audio":
                if not result.audio:
                    result.time_to_first_audio_seconds = elapsed
                result.audio += event.audio.pcm
            elif kind == "frames":
                if result.frames == 0:
                    result.time_to_first_frame_seconds = elapsed
                result.frames += len(event.frames.frames)
            elif kind == "video":
                mp4 += event.video.data
            elif kind == "summary":
                result.summary = event.summary
            if on_event is not None:
                on_event(event, elapsed)
        result.total_seconds = time.perf_counter() - start
        result.mp4 = bytes(mp4)
        return result
