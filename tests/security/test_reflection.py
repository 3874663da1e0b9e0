"""Server reflection over the wire: on by default, off in production mode."""

from __future__ import annotations

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.support.races import refused
from tests.support.services import in_process_server

SERVICE_NAMES = {
    "gateway": "avatar.gateway.v1.GatewayService",
    "tts": "avatar.tts.v1.TtsService",
    "enhancer": "avatar.enhancer.v1.EnhancerService",
}


async def _list_services(port: int) -> set[str]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
        )
        responses = [response async for response in call]
    return {service.name for service in responses[0].list_services_response.service}


@pytest.mark.parametrize("service", sorted(SERVICE_NAMES))
async def test_reflection_lists_the_services_by_default(service, tmp_path):
    environment = {"AVATAR_GATEWAY_AVATAR_DIR": str(tmp_path / "avatars")}
    async with in_process_server(service, environment) as server:
        names = await _list_services(server.port)
    assert {SERVICE_NAMES[service], "grpc.health.v1.Health"} <= names


@pytest.mark.parametrize("service", sorted(SERVICE_NAMES))
async def test_production_mode_turns_reflection_off(service, tmp_path):
    environment = {
        "AVATAR_PRODUCTION": "true",
        "AVATAR_GATEWAY_AVATAR_DIR": str(tmp_path / "avatars"),
    }
    async with in_process_server(service, environment) as server:
        error = await refused(lambda: _list_services(server.port))
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_reflection_can_be_turned_back_on_in_production(tmp_path):
    environment = {"AVATAR_PRODUCTION": "true", "AVATAR_ENHANCER_REFLECTION": "true"}
    async with in_process_server("enhancer", environment) as server:
        names = await _list_services(server.port)
    assert SERVICE_NAMES["enhancer"] in names
