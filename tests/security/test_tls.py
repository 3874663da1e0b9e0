"""TLS and mutual TLS on every server and client, with certificates made by the test."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from importlib import resources

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from avatar.common.v1 import media_pb2
from avatar.enhancer.v1 import enhancer_pb2, enhancer_pb2_grpc
from avatar_core.config import ClientTls
from avatar_core.frames import encode_frame
from avatar_core.tls import aio_channel
from avatar_devtools.cli import main as cli_main
from avatar_devtools.client import GatewayClient
from avatar_devtools.stack import LocalStack, StackError, StackPorts
from tests.support.network import free_ports
from tests.support.services import in_process_server

SERVING = health_pb2.HealthCheckResponse.SERVING
PHOTO = (resources.files("avatar_devtools") / "assets" / "sample_face.jpg").read_bytes()


async def _health(address: str, tls: ClientTls | None) -> int:
    async with aio_channel(address, tls) as channel:
        response = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
    return response.status


async def _health_error(address: str, tls: ClientTls | None) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await _health(address, tls)
    return error.value


async def _enhance_one_frame(address: str, tls: ClientTls | None) -> list[str]:
    frame = encode_frame(np.full((32, 32, 3), 128, np.uint8), 0)
    requests = [
        enhancer_pb2.EnhanceRequest(config=enhancer_pb2.EnhanceConfig()),
        enhancer_pb2.EnhanceRequest(frames=media_pb2.FrameBatch(frames=[frame])),
        enhancer_pb2.EnhanceRequest(end=enhancer_pb2.EnhanceInputEnd()),
    ]
    async with aio_channel(address, tls) as channel:
        stub = enhancer_pb2_grpc.EnhancerServiceStub(channel)
        return [r.WhichOneof("event") async for r in stub.Enhance(iter(requests), timeout=10)]


async def test_a_tls_server_serves_a_client_that_trusts_its_ca(certificates):
    environment = certificates.server_environment("enhancer")
    async with in_process_server("enhancer", environment) as server:
        address = f"127.0.0.1:{server.port}"
        tls = ClientTls(ca_file=certificates.ca)
        assert await _health(address, tls) == SERVING
        assert await _enhance_one_frame(address, tls) == ["started", "frames", "end"]


async def test_a_tls_server_refuses_plaintext_and_clients_that_do_not_trust_it(
    certificates, other_certificates
):
    async with in_process_server("enhancer", certificates.server_environment("enhancer")) as server:
        address = f"127.0.0.1:{server.port}"
        plaintext = await _health_error(address, None)
        untrusting = await _health_error(address, ClientTls(ca_file=other_certificates.ca))
    assert plaintext.code() == grpc.StatusCode.UNAVAILABLE
    assert untrusting.code() == grpc.StatusCode.UNAVAILABLE


async def test_mutual_tls_refuses_clients_without_a_certificate_or_with_a_foreign_one(
    certificates, other_certificates
):
    environment = certificates.server_environment("enhancer", mutual=True)
    foreign = ClientTls(
        ca_file=certificates.ca,
        cert_file=other_certificates.client_cert,
        key_file=other_certificates.client_key,
    )
    async with in_process_server("enhancer", environment) as server:
        address = f"127.0.0.1:{server.port}"
        assert await _enhance_one_frame(address, certificates.client_tls()) == [
            "started",
            "frames",
            "end",
        ]
        without_certificate = await _health_error(address, certificates.client_tls(False))
        with_foreign_certificate = await _health_error(address, foreign)
        plaintext = await _health_error(address, None)
    assert without_certificate.code() == grpc.StatusCode.UNAVAILABLE
    assert with_foreign_certificate.code() == grpc.StatusCode.UNAVAILABLE
    assert plaintext.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize("service", ["gateway", "llm", "tts", "animator", "enhancer"])
async def test_every_server_serves_mutual_tls(service, certificates):
    async with in_process_server(service, certificates.server_environment(service, True)) as server:
        address = f"127.0.0.1:{server.port}"
        assert await _health(address, certificates.client_tls()) == SERVING
        refused = await _health_error(address, certificates.client_tls(with_certificate=False))
    assert refused.code() == grpc.StatusCode.UNAVAILABLE


@contextlib.asynccontextmanager
async def _gateway_to_animator(tmp_path, animator_port: int, environment: dict[str, str]):
    environment = {
        "AVATAR_GATEWAY_ANIMATOR_ADDRESS": f"127.0.0.1:{animator_port}",
        "AVATAR_GATEWAY_AVATAR_DIR": str(tmp_path / "avatars"),
        "AVATAR_GATEWAY_IDLE_CLIP_SECONDS": "1",
        "AVATAR_GATEWAY_CONNECT_WAIT_SECONDS": "0",
        **environment,
    }
    async with (
        in_process_server("gateway", environment) as gateway,
        GatewayClient(f"127.0.0.1:{gateway.port}") as client,
    ):
        yield client


async def test_the_gateway_calls_downstream_services_over_mutual_tls(tmp_path, certificates):
    downstream_tls = {
        "AVATAR_GATEWAY_TLS_CA": str(certificates.ca),
        "AVATAR_GATEWAY_TLS_CLIENT_CERT": str(certificates.client_cert),
        "AVATAR_GATEWAY_TLS_CLIENT_KEY": str(certificates.client_key),
    }
    animator_environment = certificates.server_environment("animator", mutual=True)
    async with in_process_server("animator", animator_environment) as animator:
        async with _gateway_to_animator(tmp_path, animator.port, downstream_tls) as client:
            avatar = await client.create_avatar(PHOTO, "over TLS")
        assert len(avatar.avatar_id) == 16 and avatar.poster_gif.startswith(b"GIF8")

        no_client_certificate = {"AVATAR_GATEWAY_TLS_CA": str(certificates.ca)}
        async with _gateway_to_animator(tmp_path, animator.port, no_client_certificate) as client:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await client.create_avatar(PHOTO)
        async with _gateway_to_animator(tmp_path, animator.port, {}) as client:
            with pytest.raises(grpc.aio.AioRpcError) as plaintext:
                await client.create_avatar(PHOTO)
    for error in (refused.value, plaintext.value):
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert "animator" in error.details()


async def test_gateway_client_speaks_tls_and_sends_its_token(tmp_path, certificates):
    environment = {
        **certificates.server_environment("gateway", mutual=True),
        "AVATAR_GATEWAY_AVATAR_DIR": str(tmp_path / "avatars"),
        "AVATAR_GATEWAY_AUTH_TOKEN": "s3cret-token-for-tls",
    }
    async with in_process_server("gateway", environment) as gateway:
        address = f"127.0.0.1:{gateway.port}"
        tls = certificates.client_tls()
        async with GatewayClient(address, tls=tls, token="s3cret-token-for-tls") as client:
            assert await client.list_avatars() == []
        async with GatewayClient(address, tls=tls) as client:
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await client.list_avatars()
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_cli_reaches_a_mutual_tls_gateway_with_a_token(
    tmp_path, certificates, capsys, monkeypatch
):
    for name in ("AVATAR_TLS_CA", "AVATAR_TLS_CERT", "AVATAR_TLS_KEY", "AVATAR_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    environment = {
        **certificates.server_environment("gateway", mutual=True),
        "AVATAR_GATEWAY_AVATAR_DIR": str(tmp_path / "avatars"),
        "AVATAR_GATEWAY_AUTH_TOKEN": "cli-token-value",
    }
    async with in_process_server("gateway", environment) as gateway:
        base = ["--gateway", f"127.0.0.1:{gateway.port}", "--tls-ca", str(certificates.ca)]
        client_certificate = [
            "--tls-cert",
            str(certificates.client_cert),
            "--tls-key",
            str(certificates.client_key),
        ]
        token = ["--token", "cli-token-value"]
        ok = await asyncio.to_thread(cli_main, [*base, *client_certificate, *token, "avatars"])
        capsys.readouterr()
        no_token = await asyncio.to_thread(cli_main, [*base, *client_certificate, "avatars"])
        no_token_error = capsys.readouterr().err
        monkeypatch.setenv("AVATAR_TOKEN", "cli-token-value")
        no_certificate = await asyncio.to_thread(cli_main, [*base, "avatars"])
        no_certificate_error = capsys.readouterr().err
    assert ok == 0
    assert no_token == 2 and "UNAUTHENTICATED" in no_token_error
    assert no_certificate == 2 and "UNAVAILABLE" in no_certificate_error


def test_local_stack_checks_health_over_mutual_tls(tmp_path, certificates):
    ports = free_ports(2)
    stack_ports = StackPorts(grpc={"enhancer": ports[0]}, metrics={"enhancer": ports[1]})
    environment = certificates.server_environment("enhancer", mutual=True)
    with LocalStack(
        stack_ports, environment, tmp_path / "logs", client_tls=certificates.client_tls()
    ) as stack:
        stack.start(["enhancer"])
        stack.wait_until_serving(timeout=60)
        assert asyncio.run(_health(stack.address("enhancer"), certificates.client_tls())) == SERVING
    without_tls = LocalStack(stack_ports, environment)
    with pytest.raises(StackError, match="enhancer serves TLS"):
        without_tls.health_check_tls("enhancer")


async def _run_probe(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "avatar_core.probe",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if not k.startswith("AVATAR_PROBE_")},
    )
    output, _ = await process.communicate()
    return process.returncode, output.decode()


async def test_the_container_probe_checks_a_mutual_tls_server(certificates):
    environment = certificates.server_environment("enhancer", mutual=True)
    async with in_process_server("enhancer", environment) as server:
        address = f"127.0.0.1:{server.port}"
        with_certificate = await _run_probe(
            address,
            "--tls-ca",
            str(certificates.ca),
            "--tls-cert",
            str(certificates.client_cert),
            "--tls-key",
            str(certificates.client_key),
        )
        plaintext = await _run_probe(address, "--timeout", "2")
    assert with_certificate == (0, f"{address}: SERVING\n")
    assert plaintext[0] == 1 and "UNAVAILABLE" in plaintext[1]
