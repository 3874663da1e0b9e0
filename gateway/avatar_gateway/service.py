"""Builds the gateway's :class:`~avatar_core.server.Service` from its configuration."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry

from avatar.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from avatar_core.auth import BearerTokenInterceptor
from avatar_core.server import Service, create_service_with
from avatar_gateway.appearance import EnhancedStills
from avatar_gateway.clients import (
    AnimatorClient,
    AsrClient,
    EnhancerClient,
    LlmClient,
    TtsClient,
)
from avatar_gateway.config import GatewayConfig
from avatar_gateway.conversations import ConversationStoreError, open_conversation_store
from avatar_gateway.conversations.measured import MeasuredConversationStore
from avatar_gateway.metrics import GatewayMetrics
from avatar_gateway.pipeline import Clients
from avatar_gateway.servicer import GatewayServicer
from avatar_gateway.store import AvatarStore

log = logging.getLogger(__name__)


def create_service(config: GatewayConfig, registry: CollectorRegistry) -> Service:
    """Connects the downstream clients, the avatar store and the conversation store to a
    gateway servicer.

    With an auth token configured, every call except health checks and reflection
    must carry it (see :class:`~avatar_core.auth.BearerTokenInterceptor`).
    """
    tls = config.downstream_tls
    wait = config.connect_wait_seconds
    animator = AnimatorClient(config.animator_address, tls=tls, connect_wait_seconds=wait)
    enhancer = EnhancerClient(config.enhancer_address, tls=tls, connect_wait_seconds=wait)
    clients = Clients(
        llm=LlmClient(config.llm_address, tls=tls, connect_wait_seconds=wait),
        tts=TtsClient(config.tts_address, tls=tls, connect_wait_seconds=wait),
        animator=animator,
        enhancer=enhancer,
        stills=EnhancedStills(animator, enhancer),
        asr=AsrClient(config.asr_address, tls=tls, connect_wait_seconds=wait)
        if config.asr_address
        else None,
    )
    metrics = GatewayMetrics(registry)
    conversations = MeasuredConversationStore(
        open_conversation_store(
            config.conversations_url,
            config.avatar_dir,
            config.conversations,
            config.conversation_store_timeout_seconds,
        ),
        metrics.conversation_store_seconds,
        metrics.conversation_store_errors,
    )
    servicer = GatewayServicer(
        config, clients, AvatarStore(config.avatar_dir), conversations, metrics
    )

    async def warm_up() -> None:
        # Reported, not fatal: speaking plain text needs no conversation store.
        try:
            await conversations.check()
        except ConversationStoreError as error:
            log.warning(
                "chat requests with a conversation id will fail until it answers: %s", error
            )
        else:
            log.info("conversations are kept in %s", conversations.description)

    async def close() -> None:
        for client in (clients.llm, clients.tts, clients.animator, clients.enhancer):
            await client.close()
        if clients.asr is not None:
            await clients.asr.close()
        await conversations.close()

    return create_service_with(
        servicer,
        gateway_pb2_grpc.add_GatewayServiceServicer_to_server,
        gateway_pb2.DESCRIPTOR.services_by_name["GatewayService"],
        warm_up=warm_up,
        close=close,
        interceptors=[BearerTokenInterceptor(config.auth_token, registry)]
        if config.auth_token
        else [],
    )
