"""The whole stack as five processes on free ports, with a fake LLM, for long-running checks.

The fuzzing and soak benchmarks run against the services exactly as deployed (separate
processes configured through their environment), with the llm service pointed at a small
OpenAI-compatible server in this process so that chat works offline.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from avatar.animator.v1 import animator_pb2, animator_pb2_grpc
from avatar_devtools.client import GatewayClient
from avatar_devtools.fake_openai import FakeOpenAI
from avatar_devtools.samples import sample_face
from avatar_devtools.stack import LocalStack, StackPorts
from avatar_devtools.units import DOWNSTREAM_SERVICES
from benchmarks.latency import free_ports

SERVICES = ["gateway", *DOWNSTREAM_SERVICES]
PHOTO = sample_face()


@dataclass
class RunningStack:
    """A started stack with the sample avatar created.

    Attributes:
        stack: The processes.
        avatar_id: The sample avatar.
        content_hash: The sample photo's content hash at the animator.
    """

    stack: LocalStack
    avatar_id: str
    content_hash: str

    def addresses(self) -> dict[str, str]:
        """``host:port`` of every service."""
        return {service: self.stack.address(service) for service in SERVICES}

    def pid(self, service: str) -> int:
        """The process id of a service."""
        return self.stack.processes[service].pid

    def metric(self, service: str, name: str, **labels: str) -> float:
        """Scrapes a service's ``/metrics`` and sums the samples of ``name`` with ``labels``."""
        port = self.stack.ports.metrics[service]
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
        return sum(
            sample.value
            for family in text_string_to_metric_families(text.decode())
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )

    def is_serving(self, service: str) -> bool:
        """Whether the service's standard health check says SERVING."""
        with grpc.insecure_channel(self.stack.address(service)) as channel:
            try:
                response = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=5
                )
            except grpc.RpcError:
                return False
        return response.status == health_pb2.HealthCheckResponse.SERVING

    def exited(self) -> dict[str, int]:
        """Services whose process has ended, with their exit codes."""
        codes = {service: process.poll() for service, process in self.stack.processes.items()}
        return {service: code for service, code in codes.items() if code is not None}


@contextlib.contextmanager
def running_stack(
    work_dir: Path, environment: dict[str, str] | None = None, llm_chunk_delay: float = 0.0
) -> Iterator[RunningStack]:
    """Starts the five services and a fake LLM, creates the sample avatar, stops it all after.

    Args:
        work_dir: Where the avatar store and the services' logs go.
        environment: Extra ``AVATAR_*`` variables for every service.
        llm_chunk_delay: Seconds the fake model waits before each word it streams.
    """
    ports = free_ports(2 * len(SERVICES))
    with FakeOpenAI(chunk_delay=llm_chunk_delay) as base_url:
        settings = {
            "AVATAR_GATEWAY_AVATAR_DIR": str(work_dir / "avatars"),
            "AVATAR_LLM_BASE_URL": base_url,
            "AVATAR_LLM_MODEL": "fake-model",
            **(environment or {}),
        }
        stack = LocalStack(
            StackPorts(
                grpc=dict(zip(SERVICES, ports[:5], strict=True)),
                metrics=dict(zip(SERVICES, ports[5:], strict=True)),
            ),
            settings,
            log_dir=work_dir / "logs",
        )
        with stack:
            stack.start()
            stack.wait_until_serving(timeout=300)
            avatar_id, content_hash = asyncio.run(_prepare_sample(stack))
            yield RunningStack(stack, avatar_id, content_hash)


async def _prepare_sample(stack: LocalStack) -> tuple[str, str]:
    async with GatewayClient(stack.gateway_address) as client:
        avatar = await client.create_avatar(PHOTO, "sample")
    async with grpc.aio.insecure_channel(stack.address("animator")) as channel:
        prepared = await animator_pb2_grpc.AnimatorServiceStub(channel).PrepareAvatar(
            animator_pb2.PrepareAvatarRequest(image=PHOTO), timeout=60
        )
    return avatar.avatar_id, prepared.content_hash


def process_memory(pid: int) -> tuple[int, int]:
    """A process's resident memory in bytes and its number of open file descriptors."""
    rss = 0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))
