"""The container health probe (``python -m avatar_core.probe``) against a real server."""

from __future__ import annotations

import asyncio
import sys

from avatar_core.config import ServerConfig
from avatar_core.server import AvatarServer, Service
from avatar_enhancer.config import EnhancerConfig
from avatar_enhancer.servicer import create_service
from tests.support.network import free_ports


async def _probe(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "avatar_core.probe",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode, output.decode()


async def test_probe_passes_only_once_the_server_is_serving():
    config = EnhancerConfig(server=ServerConfig(service="enhancer", host="127.0.0.1"))
    warming, release = asyncio.Event(), asyncio.Event()

    def factory(registry):
        service = create_service(config, registry)

        async def slow_warm_up():
            warming.set()
            await release.wait()
            await service.warm_up()

        return Service(service.registrations, warm_up=slow_warm_up, close=service.close)

    server = AvatarServer(config.server, factory)
    starting = asyncio.create_task(server.start())
    await warming.wait()  # bound and NOT_SERVING
    address = f"127.0.0.1:{server.port}"
    try:
        assert await _probe(address) == (1, f"{address}: NOT_SERVING\n")
        release.set()
        await starting
        assert await _probe(address) == (0, f"{address}: SERVING\n")
        service_name = "avatar.enhancer.v1.EnhancerService"
        assert (await _probe(address, "--service", service_name))[0] == 0
        code, output = await _probe(address, "--service", "no.such.Service")
        assert code == 1 and "NOT_FOUND" in output
    finally:
        await server.stop(grace=0)
    (closed,) = free_ports(1)
    code, output = await _probe(f"127.0.0.1:{closed}", "--timeout", "1")
    assert code == 1 and "UNAVAILABLE" in output
