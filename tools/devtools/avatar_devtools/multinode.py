"""The stack spread over nodes: each service on its own network node with its own address.

:class:`MultiNodeStack` runs every service inside its own network namespace
(:mod:`avatar_devtools.netns`), listening on that node's address with its default ports, and
points the gateway at the other nodes' addresses - the same configuration as on five
machines. :func:`demonstrate_failover` is what ``avatar multinode`` shows: a ``Speak``
that crosses the nodes, the animator's node going down (the gateway answers
UNAVAILABLE naming the animator), and recovery once it is back, with the same gateway
process and the same client channel throughout.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc

from avatar.gateway.v1 import gateway_pb2
from avatar_devtools.client import GatewayClient, SpeakResult
from avatar_devtools.netns import NamespaceNetwork, NetnsError, check_support
from avatar_devtools.samples import sample_face
from avatar_devtools.stack import MODULES, LocalStack, StackError, StackPorts

SERVICES = list(MODULES)
FAILOVER_TEXT = "Hi, how are you today?"


class MultiNodeStack(LocalStack):
    """Five server processes, each in its own node of a :class:`NamespaceNetwork`.

    Args:
        network: A created network with a node named after each service.
        environment: Extra variables for every process.
        log_dir: Where each process's output goes (``<service>.log``).
        ports: Ports inside each node; the defaults (50051-50055, 9051-9055) do not
            clash, since every node has a port space of its own.
    """

    def __init__(
        self,
        network: NamespaceNetwork,
        environment: Mapping[str, str] | None = None,
        log_dir: Path | None = None,
        ports: StackPorts | None = None,
    ) -> None:
        super().__init__(ports, environment, log_dir)
        self.network = network

    def address(self, service: str) -> str:
        """``address:port`` of a service on its node."""
        return f"{self.network.node(service).address}:{self.ports.grpc[service]}"

    def metrics_url(self, service: str) -> str:
        """The service's ``/metrics`` URL on its node."""
        node = self.network.node(service)
        return f"http://{node.address}:{self.ports.metrics[service]}/metrics"

    def command(self, service: str) -> list[str]:
        """Runs the service's module inside its node's namespace."""
        return [*self.network.exec_prefix(service), *super().command(service)]

    def service_environment(self, service: str) -> dict[str, str]:
        """The local stack's environment, listening on the node's own address."""
        env = super().service_environment(service)
        env[f"AVATAR_{service.upper()}_HOST"] = self.network.node(service).address
        # Node addresses are reached directly, never through an HTTP proxy a user set.
        addresses = ",".join(node.address for node in self.network.nodes.values())
        env["no_grpc_proxy"] = ",".join(filter(None, [env.get("no_grpc_proxy"), addresses]))
        return env

    def stop_node(self, service: str, grace_seconds: float = 10.0) -> list[int]:
        """Stops every process on a service's node, as if the machine went down.

        Returns:
            The process ids that were stopped.
        """
        pids = self.network.kill_processes(service, grace_seconds)
        process = self.processes.pop(service, None)
        if process is not None:
            process.wait(grace_seconds)
        return pids


@dataclass(slots=True)
class FailoverReport:
    """What :func:`demonstrate_failover` observed.

    Attributes:
        first: The Speak that crossed every node.
        outage_code: Status of the Speak while the animator's node was down.
        outage_details: Its message.
        stopped_pids: Processes stopped on the animator's node.
        recovered: The Speak after the animator came back, on the same channel.
        recovery_seconds: From the animator serving again to that Speak's end.
        gateway_pid_before: The gateway's process id at the start.
        gateway_pid_after: The process id running on the gateway's node at the end
            (-1 unless exactly one runs there).
    """

    first: SpeakResult
    outage_code: grpc.StatusCode | None
    outage_details: str
    stopped_pids: list[int]
    recovered: SpeakResult
    recovery_seconds: float
    gateway_pid_before: int
    gateway_pid_after: int

    @property
    def ok(self) -> bool:
        """Whether everything happened as a deployment needs it to."""
        return (
            self.first.frames > 0
            and self.outage_code == grpc.StatusCode.UNAVAILABLE
            and "animator" in self.outage_details
            and self.recovered.frames > 0
            and self.gateway_pid_before == self.gateway_pid_after
        )


async def demonstrate_failover(
    stack: MultiNodeStack,
    photo: bytes,
    text: str,
    say: Callable[[str], None] = print,
    start_timeout: float = 180.0,
) -> FailoverReport:
    """Speaks across the nodes, takes the animator's node down and brings it back.

    One client (one channel) makes every call; the gateway is never restarted.
    """
    gateway_pid = stack.processes["gateway"].pid
    async with GatewayClient(stack.gateway_address) as client:
        avatar = await client.create_avatar(photo, "multinode")
        say(f"created avatar {avatar.avatar_id} through the gateway at {stack.gateway_address}")
        request = gateway_pb2.SpeakRequest(avatar_id=avatar.avatar_id, text=text)
        first = await client.speak(request, timeout=120)
        say(f"spoke across the nodes: {_describe(first)}")

        stopped = await asyncio.to_thread(stack.stop_node, "animator")
        say(f"stopped the animator's node ({stack.address('animator')}, pids {stopped})")
        code, details = None, ""
        try:
            await client.speak(request, timeout=60)
        except grpc.aio.AioRpcError as error:
            code, details = error.code(), error.details() or ""
        say(f"while it is down the gateway answers {code.name if code else 'OK'}: {details}")

        stack.start_service("animator")
        await asyncio.to_thread(stack.wait_until_serving, start_timeout)
        serving_at = time.perf_counter()
        say(f"the animator is serving again on {stack.address('animator')}")
        recovered = await client.speak(request, timeout=120)
        recovery_seconds = time.perf_counter() - serving_at
        gateway_pid_after = _only(stack.network.pids("gateway"))
        say(
            f"recovered on the same client channel and the same gateway (pid {gateway_pid} "
            f"{'unchanged' if gateway_pid_after == gateway_pid else 'CHANGED'}): "
            f"{_describe(recovered)}"
        )
    return FailoverReport(
        first=first,
        outage_code=code,
        outage_details=details,
        stopped_pids=stopped,
        recovered=recovered,
        recovery_seconds=recovery_seconds,
        gateway_pid_before=gateway_pid,
        gateway_pid_after=gateway_pid_after,
    )


def _only(pids: list[int]) -> int:
    return pids[0] if len(pids) == 1 else -1


def _describe(result: SpeakResult) -> str:
    audio_seconds = result.summary.audio_seconds if result.summary else 0.0
    return (
        f"{result.frames} frames, {audio_seconds:.2f} s of audio, first frame after "
        f"{result.time_to_first_frame_seconds * 1000:.0f} ms, total "
        f"{result.total_seconds * 1000:.0f} ms"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``avatar multinode``."""
    parser.add_argument(
        "--subnet", help="private /24 for the nodes, e.g. 10.213.7.0/24 (default: a free one)"
    )
    parser.add_argument("--text", default=FAILOVER_TEXT, help="what the avatar says")
    parser.add_argument(
        "--hold", action="store_true",
        help="keep the nodes running after the demonstration, until Ctrl-C",
    )  # fmt: skip
    parser.add_argument("--start-timeout", type=float, default=180.0)


def run_command(args: argparse.Namespace, say: Callable[[str], None] = print) -> int:
    """``avatar multinode``: the stack on five nodes, an animator outage and recovery.

    Returns:
        0 when the Speak crossed the nodes, the outage gave UNAVAILABLE naming the
        animator and the stack recovered; 1 otherwise; 130 when interrupted.
    """
    try:
        check_support()
    except NetnsError as error:
        say(f"error: {error}")
        return 1
    signal.signal(signal.SIGTERM, _interrupt)
    work_dir = Path(tempfile.mkdtemp(prefix="avatar-multinode-"))
    environment = {"AVATAR_GATEWAY_AVATAR_DIR": str(work_dir / "avatars")}
    try:
        with (
            NamespaceNetwork(SERVICES, subnet=args.subnet) as network,
            MultiNodeStack(network, environment, log_dir=work_dir / "logs") as stack,
        ):
            say(
                f"nodes on {network.subnet} (bridge {network.bridge}, logs in {work_dir / 'logs'}):"
            )
            for service in SERVICES:
                say(f"  {service:9} namespace {network.node(service).namespace:24} "
                    f"{stack.address(service)}")  # fmt: skip
            stack.start()
            stack.wait_until_serving(args.start_timeout, progress=say)
            report = asyncio.run(
                demonstrate_failover(stack, sample_face(), args.text, say, args.start_timeout)
            )
            say("multi-node run OK" if report.ok else "multi-node run FAILED")
            if args.hold:
                _hold(stack, say)
        say("removed the nodes")
        return 0 if report.ok else 1
    except StackError as error:
        say(f"error: {error}")
        return 1
    except KeyboardInterrupt:
        say("interrupted; removed the nodes")
        return 130


def _hold(stack: MultiNodeStack, say: Callable[[str], None]) -> None:
    say(f"gateway serving on {stack.gateway_address}; Ctrl-C stops every node")
    while not (exited := [name for name, p in stack.processes.items() if p.poll() is not None]):
        time.sleep(0.5)
    say(f"{', '.join(exited)} exited; stopping")


def _interrupt(signum: int, frame: object) -> None:
    # SIGTERM unwinds like Ctrl-C, so the nodes are removed on the way out.
    raise KeyboardInterrupt
