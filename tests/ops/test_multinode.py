"""Multi-node: each service in its own network namespace with its own address, as root.

The services reach each other only over a bridge between the namespaces, exactly as
five machines on one LAN; the test speaks through them, takes the animator's node
down, and checks that the gateway names the animator and recovers when it is back,
with the same gateway process and the same client channel.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import os
import signal
import subprocess
import sys
import time
import urllib.request
from importlib import resources
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from avatar.gateway.v1 import gateway_pb2
from avatar_devtools.client import GatewayClient
from avatar_devtools.multinode import SERVICES, MultiNodeStack
from avatar_devtools.netns import NamespaceNetwork, pick_subnet, run_ip

pytestmark = pytest.mark.slow

PHOTO = (resources.files("avatar_devtools") / "assets" / "sample_face.jpg").read_bytes()
TEXT = "Hi, how are you today?"


def _namespaces() -> set[str]:
    return {line.split()[0] for line in run_ip("netns", "list").splitlines() if line.strip()}


def _links() -> str:
    return run_ip("-o", "link", "show")


def _net_namespace_of(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/net")


def _metrics(url: str) -> dict[tuple[str, tuple], float]:
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _handled(samples: dict, method: str, code: str) -> float:
    return sum(
        value
        for (name, labels), value in samples.items()
        if name == "grpc_server_handled_total"
        and dict(labels).get("grpc_method") == method
        and dict(labels).get("grpc_code") == code
    )


def _health(address: str) -> int:
    with grpc.insecure_channel(address) as channel:
        return (
            health_pb2_grpc.HealthStub(channel)
            .Check(health_pb2.HealthCheckRequest(), timeout=5)
            .status
        )


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    root = tmp_path_factory.mktemp("multinode")
    environment = {"AVATAR_GATEWAY_AVATAR_DIR": str(root / "avatars")}
    with (
        NamespaceNetwork(SERVICES) as network,
        MultiNodeStack(network, environment, log_dir=root / "logs") as stack,
    ):
        stack.start()
        stack.wait_until_serving(timeout=180)
        yield stack


def test_pick_subnet_skips_every_network_in_use():
    pool = ipaddress.ip_network("10.213.0.0/22")
    used = [
        ipaddress.ip_network("0.0.0.0/0"),  # a default route does not block anything
        ipaddress.ip_network("10.213.0.0/24"),
        ipaddress.ip_network("10.213.1.7/32"),
        ipaddress.ip_network("10.213.2.0/23"),
    ]
    with pytest.raises(Exception, match="no free /24"):
        pick_subnet(used, pool)
    assert pick_subnet(used[:3], pool) in {
        ipaddress.ip_network("10.213.2.0/24"),
        ipaddress.ip_network("10.213.3.0/24"),
    }


def test_each_service_runs_on_its_own_node_with_its_own_address(nodes):
    network = nodes.network
    own_namespace = _net_namespace_of(os.getpid())
    namespaces = set()
    for service in SERVICES:
        node = network.node(service)
        process = nodes.processes[service]
        assert network.pids(service) == [process.pid]
        namespaces.add(_net_namespace_of(process.pid))
        assert ipaddress.ip_address(node.address) in network.subnet
        assert _health(nodes.address(service)) == health_pb2.HealthCheckResponse.SERVING
        # Its metrics are served on its node's address too, counting the health checks.
        assert _handled(_metrics(nodes.metrics_url(service)), "Check", "OK") >= 1
    assert len(namespaces) == len(SERVICES) and own_namespace not in namespaces
    assert len({network.node(service).address for service in SERVICES}) == len(SERVICES)
    # The gateway was pointed at the other nodes' addresses.
    environ = Path(f"/proc/{nodes.processes['gateway'].pid}/environ").read_bytes().split(b"\0")
    for downstream in ("llm", "tts", "animator", "enhancer"):
        variable = f"AVATAR_GATEWAY_{downstream.upper()}_ADDRESS={nodes.address(downstream)}"
        assert variable.encode() in environ


async def test_speak_crosses_the_nodes_and_survives_an_animator_outage(nodes):
    gateway_pid = nodes.processes["gateway"].pid
    async with GatewayClient(nodes.gateway_address) as client:
        avatar = await client.create_avatar(PHOTO, "multinode")
        animator_before = _metrics(nodes.metrics_url("animator"))
        request = gateway_pb2.SpeakRequest(avatar_id=avatar.avatar_id, text=TEXT)
        first = await client.speak(request, timeout=120)
        # Every frame was made on the animator's node, in sync with the audio.
        audio_seconds = len(first.audio) / 2 / first.started.sample_rate
        assert first.frames == math.ceil(audio_seconds * 25 - 1e-6) > 0
        animated = _metrics(nodes.metrics_url("animator"))
        assert _handled(animated, "Animate", "OK") - _handled(animator_before, "Animate", "OK") == 1

        stopped = await asyncio.to_thread(nodes.stop_node, "animator")
        assert stopped and nodes.network.pids("animator") == []
        started = time.perf_counter()
        with pytest.raises(grpc.aio.AioRpcError) as outage:
            await client.speak(request, timeout=60)
        failed_after = time.perf_counter() - started
        assert outage.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "animator" in outage.value.details()
        # It fails after a short wait for a reconnect, not at the client's deadline.
        assert failed_after < 15

        nodes.start_service("animator")
        await asyncio.to_thread(nodes.wait_until_serving, 180)
        # The very first call after the animator is back succeeds, on the same channel.
        recovered = await client.speak(request, timeout=120)
    assert recovered.frames == first.frames
    assert len(recovered.audio) == len(first.audio)
    # The restarted animator (a new process, fresh counters) served that call.
    assert _handled(_metrics(nodes.metrics_url("animator")), "Animate", "OK") == 1
    assert nodes.processes["gateway"].pid == gateway_pid
    assert nodes.processes["gateway"].poll() is None
    assert nodes.network.pids("gateway") == [gateway_pid]


def test_the_network_is_removed_even_when_the_block_fails():
    with pytest.raises(RuntimeError, match="boom"), NamespaceNetwork(["a", "b"]) as network:
        names = {node.namespace for node in network.nodes.values()}
        links = [network.bridge, *(node.host_link for node in network.nodes.values())]
        assert names <= _namespaces()
        sleeper = subprocess.Popen([*network.exec_prefix("a"), "sleep", "60"])
        deadline = time.monotonic() + 10
        while not network.pids("a") and time.monotonic() < deadline:
            time.sleep(0.05)
        # `ip netns exec` becomes the program: the one process on node "a" is the sleeper.
        assert network.pids("a") == [sleeper.pid]
        failed_at = time.monotonic()
        raise RuntimeError("boom")
    # Leaving the block stopped the process left on node "a" politely (SIGTERM, not
    # SIGKILL, long before its 60 s were up): it had ended when the block was left.
    assert sleeper.poll() == -signal.SIGTERM
    assert time.monotonic() - failed_at < 5
    # No namespace or link is left, and the network knows it has no nodes.
    assert network.nodes == {}
    assert not names & _namespaces()
    remaining = _links()
    assert not [link for link in links if f" {link}:" in remaining or f" {link}@" in remaining]


def test_the_command_runs_the_failover_and_removes_its_nodes(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "avatar_devtools.cli", "multinode"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    output = completed.stdout
    assert completed.returncode == 0, output + completed.stderr
    assert "spoke across the nodes" in output
    assert "gateway answers UNAVAILABLE: animator stage: animator service unavailable" in output
    assert "recovered on the same client channel and the same gateway" in output
    assert "unchanged" in output and "multi-node run OK" in output
    namespaces = {word for word in output.split() if word.startswith("avatar-")}
    namespaces = {name for name in namespaces if name.count("-") == 2}
    assert len(namespaces) == len(SERVICES)
    assert not namespaces & _namespaces()
