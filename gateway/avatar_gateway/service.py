"""Builds the gateway's :class:`~avatar_core.server.Service` from its configuration."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from avatar.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from avatar_core.auth import BearerTokenInterceptor
from avatar_core.server import Service, create_service_with
from avatar_gateway.clients import AnimatorClient, EnhancerClient, LlmClient, TtsClient
from avatar_gateway.config import GatewayConfig
from avatar_gateway.metrics import GatewayMetrics
from avatar_gateway.pipeline import Clients
from avatar_gateway.servicer import GatewayServicer
from avatar_gateway.store import AvatarStore


def create_service(config: GatewayConfig, registry: CollectorRegistry) -> Service:
    """Connects the downstream clients and the avatar store to a gateway servicer.

    With an auth token configured, every call except health checks and reflection
    must carry it (see :class:`~avatar_core.auth.BearerTokenInterceptor`).
    """
    tls = config.downstream_tls
    wait = config.connect_wait_seconds
    clients = Clients(
        llm=LlmClient(config.llm_address, tls=tls, connect_wait_seconds=wait),
        tts=TtsClient(config.tts_address, tls=tls, connect_wait_seconds=wait),
        animator=AnimatorClient(config.animator_address, tls=tls, connect_wait_seconds=wait),
        enhancer=EnhancerClient(config.enhancer_address, tls=tls, connect_wait_seconds=wait),
    )
    servicer = GatewayServicer(
        config, clients, AvatarStore(config.avatar_dir), GatewayMetrics(registry)
    )

    async def close() -> None:
        for client in (clients.llm, clients.tts, clients.animator, clients.enhancer):
            await client.close()

    return create_service_with(
        servicer,
        gateway_pb2_grpc.add_GatewayServiceServicer_to_server,
        gateway_pb2.DESCRIPTOR.services_by_name["GatewayService"],
        close=close,
        interceptors=[BearerTokenInterceptor(config.auth_token, registry)]
        if config.auth_token
        else [],
    )
