"""End to end: a stack with two animator processes, as `avatar up` runs on two cores.

The gateway reaches both (``AVATAR_GATEWAY_ANIMATOR_ADDRESS`` names them, comma-separated)
and gives each stream to the least busy.
"""

from __future__ import annotations

import asyncio
import os
from importlib import resources

import pytest

from avatar.gateway.v1 import gateway_pb2
from avatar_devtools.client import GatewayClient
from avatar_devtools.stack import LocalStack, StackPorts, default_animators, unit_of
from tests.support.network import free_ports, metric_value, scrape

pytestmark = pytest.mark.slow

PROCESSES = ["gateway", "llm", "tts", "animator", "enhancer", "animator-2"]


def test_the_default_ports_give_each_animator_replica_its_own_and_the_gateway_all():
    ports = StackPorts.defaults(animators=3)
    assert ports.replicas("animator") == ["animator", "animator-2", "animator-3"]
    assert [ports.grpc[name] for name in ports.replicas("animator")] == [50054, 50154, 50254]
    assert [ports.metrics[name] for name in ports.replicas("animator")] == [9054, 9154, 9254]
    stack = LocalStack(ports, {})
    gateway = stack.service_environment("gateway")
    assert gateway["AVATAR_GATEWAY_ANIMATOR_ADDRESS"] == (
        "127.0.0.1:50054,127.0.0.1:50154,127.0.0.1:50254"
    )
    assert gateway["AVATAR_GATEWAY_TTS_ADDRESS"] == "127.0.0.1:50053"
    replica = stack.service_environment("animator-3")
    assert (replica["AVATAR_ANIMATOR_PORT"], replica["AVATAR_ANIMATOR_METRICS_PORT"]) == (
        "50254",
        "9254",
    )
    assert stack.command("animator-3")[-1] == "avatar_animator"
    assert unit_of("animator-3") == "animator" and unit_of("gateway") == "gateway"
    single = LocalStack(StackPorts.defaults(), {})
    assert single.service_environment("gateway")["AVATAR_GATEWAY_ANIMATOR_ADDRESS"] == (
        "127.0.0.1:50054"
    )
    assert default_animators() == len(os.sched_getaffinity(0))


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("replicas")
    ports = free_ports(2 * len(PROCESSES))
    stack_ports = StackPorts(
        grpc=dict(zip(PROCESSES, ports[: len(PROCESSES)], strict=True)),
        metrics=dict(zip(PROCESSES, ports[len(PROCESSES) :], strict=True)),
    )
    environment = {"AVATAR_GATEWAY_AVATAR_DIR": str(root / "avatars")}
    with LocalStack(stack_ports, environment, log_dir=root / "logs") as running:
        running.start()
        running.wait_until_serving(timeout=180)
        yield running


async def test_concurrent_streams_are_spread_over_both_animators(stack):
    photo = (resources.files("avatar_devtools") / "assets" / "sample_face.jpg").read_bytes()

    def frames_by_replica() -> list[float]:
        return [
            metric_value(scrape(stack.ports.metrics[name]), "avatar_animator_frames_total")
            for name in ("animator", "animator-2")
        ]

    async with GatewayClient(stack.gateway_address) as client:
        avatar = await client.create_avatar(photo, "sample")
        before = frames_by_replica()
        request = gateway_pb2.SpeakRequest(avatar_id=avatar.avatar_id, text="Hello there.")
        results = await asyncio.gather(*(client.speak(request, timeout=120) for _ in range(4)))
        after = frames_by_replica()
    frames = results[0].frames
    assert frames > 10 and all(result.frames == frames for result in results)
    # Four streams at once: each animator rendered some (two each while all four are in
    # flight together), and every frame was rendered once.
    rendered = [a - b for a, b in zip(after, before, strict=True)]
    assert sum(rendered) == 4 * frames
    assert min(rendered) >= frames
