"""The web front's channel to the gateway: one channel, a token per call."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from avatar.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from avatar_core.auth import bearer_metadata
from avatar_core.tls import aio_channel
from avatar_gateway.web.config import WebConfig

# Photos and MP4s are larger than gRPC's 4 MiB default.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class GatewayConnection:
    """Owns the channel to the gateway; each call carries the caller's bearer token.

    Args:
        config: Where the gateway is, its TLS and the default token.
    """

    def __init__(self, config: WebConfig) -> None:
        self._default_token = config.gateway_token
        self.channel = aio_channel(
            config.gateway_address,
            config.gateway_tls,
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ],
        )
        self.stub = gateway_pb2_grpc.GatewayServiceStub(self.channel)

    def metadata(self, token: str) -> tuple[tuple[str, str], ...]:
        """The call metadata for ``token`` (the configured token when it is empty)."""
        return bearer_metadata(token or self._default_token)

    async def close(self) -> None:
        """Closes the channel; calls still running are cancelled."""
        await self.channel.close()

    async def list_avatars(self, token: str) -> list[gateway_pb2.Avatar]:
        """Every stored avatar, without media."""
        response = await self.stub.ListAvatars(
            gateway_pb2.ListAvatarsRequest(), timeout=10.0, metadata=self.metadata(token)
        )
        return list(response.avatars)

    async def get_avatar(
        self, avatar_id: str, token: str, include_media: bool = False
    ) -> gateway_pb2.Avatar:
        """One avatar, with its idle clip and poster when asked."""
        request = gateway_pb2.GetAvatarRequest(avatar_id=avatar_id, include_media=include_media)
        return await self.stub.GetAvatar(request, timeout=30.0, metadata=self.metadata(token))

    async def create_avatar(self, image: bytes, name: str, token: str) -> gateway_pb2.Avatar:
        """Creates an avatar from a photo."""
        request = gateway_pb2.CreateAvatarRequest(image=image, display_name=name)
        return await self.stub.CreateAvatar(request, timeout=180.0, metadata=self.metadata(token))

    async def delete_avatar(self, avatar_id: str, token: str) -> None:
        """Deletes an avatar."""
        await self.stub.DeleteAvatar(
            gateway_pb2.DeleteAvatarRequest(avatar_id=avatar_id),
            timeout=10.0,
            metadata=self.metadata(token),
        )

    async def list_voices(self, token: str) -> gateway_pb2.ListVoicesResponse:
        """The tts service's voices."""
        return await self.stub.ListVoices(
            gateway_pb2.ListVoicesRequest(), timeout=10.0, metadata=self.metadata(token)
        )

    async def render_mp4(self, request: gateway_pb2.SpeakRequest, token: str) -> bytes:
        """Runs Speak with ``include_mp4`` and returns the finished video."""
        request.include_mp4 = True
        video = bytearray()
        call = self.stub.Speak(request, timeout=600.0, metadata=self.metadata(token))
        async for event in call:
            if event.WhichOneof("event") == "video":
                video += event.video.data
        return bytes(video)

    def converse(
        self, requests: AsyncIterator[gateway_pb2.ConverseRequest], token: str
    ) -> grpc.aio.StreamStreamCall:
        """Opens a Converse stream fed by ``requests``."""
        return self.stub.Converse(requests, metadata=self.metadata(token))
