"""The gateway's bearer token: refused without it, open probes, never in logs or errors."""

from __future__ import annotations

import logging

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from avatar.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from avatar_core.config import ConfigError
from avatar_gateway.config import GatewayConfig
from tests.support.network import metric_value, scrape
from tests.support.services import in_process_server

TOKEN = "tok-7c1e94d2a8b5f3e6"
WRONG = "tok-0000-not-the-right-one"


def _gateway_environment(tmp_path, **extra: str) -> dict[str, str]:
    return {"AVATAR_GATEWAY_AVATAR_DIR": str(tmp_path / "avatars"), **extra}


def _bearer(token: str, scheme: str = "Bearer") -> tuple[tuple[str, str], ...]:
    return (("authorization", f"{scheme} {token}"),)


async def _list_error(stub, metadata) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.ListAvatars(gateway_pb2.ListAvatarsRequest(), metadata=metadata, timeout=5)
    return error.value


async def test_calls_without_the_right_token_are_unauthenticated(tmp_path):
    environment = _gateway_environment(tmp_path, AVATAR_GATEWAY_AUTH_TOKEN=TOKEN)
    async with (
        in_process_server("gateway", environment) as gateway,
        grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as channel,
    ):
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        missing = await _list_error(stub, ())
        wrong = await _list_error(stub, _bearer(WRONG))
        other_scheme = await _list_error(stub, (("authorization", f"Basic {TOKEN}"),))
        prefix_only = await _list_error(stub, _bearer(TOKEN[:-1]))
        with pytest.raises(grpc.aio.AioRpcError) as streaming:
            async for _ in stub.Speak(
                gateway_pb2.SpeakRequest(avatar_id="0" * 16, text="Hello."), timeout=5
            ):
                pass
        accepted = await stub.ListAvatars(
            gateway_pb2.ListAvatarsRequest(), metadata=_bearer(TOKEN), timeout=5
        )
        lower_case_scheme = await stub.ListAvatars(
            gateway_pb2.ListAvatarsRequest(), metadata=_bearer(TOKEN, "bearer"), timeout=5
        )
        refused = metric_value(
            scrape(gateway.metrics_port), "avatar_server_unauthenticated_calls_total"
        )
    for error in (missing, wrong, other_scheme, prefix_only, streaming.value):
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "authorization: Bearer <token>" in missing.details()
    assert "invalid bearer token" in wrong.details()
    assert "invalid bearer token" in prefix_only.details()
    assert list(accepted.avatars) == [] and list(lower_case_scheme.avatars) == []
    assert refused == 5


async def test_health_checks_and_reflection_need_no_token(tmp_path):
    environment = _gateway_environment(tmp_path, AVATAR_GATEWAY_AUTH_TOKEN=TOKEN)
    async with (
        in_process_server("gateway", environment) as gateway,
        grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as channel,
    ):
        health = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="avatar.gateway.v1.GatewayService"), timeout=5
        )
        call = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
        )
        listed = [response async for response in call]
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    names = {s.name for s in listed[0].list_services_response.service}
    assert "avatar.gateway.v1.GatewayService" in names


async def test_the_token_can_come_from_a_file(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    environment = _gateway_environment(tmp_path, AVATAR_GATEWAY_AUTH_TOKEN_FILE=str(token_file))
    async with (
        in_process_server("gateway", environment) as gateway,
        grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as channel,
    ):
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        missing = await _list_error(stub, ())
        accepted = await stub.ListAvatars(
            gateway_pb2.ListAvatarsRequest(), metadata=_bearer(TOKEN), timeout=5
        )
    assert missing.code() == grpc.StatusCode.UNAUTHENTICATED
    assert list(accepted.avatars) == []


async def test_tokens_never_reach_logs_or_error_messages(tmp_path, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    environment = _gateway_environment(tmp_path, AVATAR_GATEWAY_AUTH_TOKEN=TOKEN)
    details = []
    async with (
        in_process_server("gateway", environment) as gateway,
        grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as channel,
    ):
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        for metadata in ((), _bearer(WRONG), _bearer(TOKEN + "x")):
            error = await _list_error(stub, metadata)
            details.append(f"{error.details()} {error.debug_error_string()}")
        await stub.ListAvatars(gateway_pb2.ListAvatarsRequest(), metadata=_bearer(TOKEN))
        metrics = scrape(gateway.metrics_port)
    captured = capfd.readouterr()
    seen = "\n".join([caplog.text, captured.out, captured.err, *details, str(metrics)])
    assert "invalid bearer token" in seen  # the refusals did happen
    assert TOKEN not in seen and WRONG not in seen
    assert TOKEN not in repr(GatewayConfig.from_env({"AVATAR_GATEWAY_AUTH_TOKEN": TOKEN}))


def test_bad_token_settings_fail_at_start_without_showing_the_token(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    both = {"AVATAR_GATEWAY_AUTH_TOKEN": TOKEN, "AVATAR_GATEWAY_AUTH_TOKEN_FILE": str(token_file)}
    with pytest.raises(ConfigError, match="AVATAR_GATEWAY_AUTH_TOKEN_FILE, not both") as error:
        GatewayConfig.from_env(both)
    assert TOKEN not in str(error.value)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match="AVATAR_GATEWAY_AUTH_TOKEN_FILE=.* is empty"):
        GatewayConfig.from_env({"AVATAR_GATEWAY_AUTH_TOKEN_FILE": str(empty)})
    missing = str(tmp_path / "absent")
    with pytest.raises(ConfigError, match="AVATAR_GATEWAY_AUTH_TOKEN_FILE=.*cannot read it"):
        GatewayConfig.from_env({"AVATAR_GATEWAY_AUTH_TOKEN_FILE": missing})
