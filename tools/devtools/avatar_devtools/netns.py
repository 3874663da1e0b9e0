"""Network namespaces as stand-in machines: one namespace per node, each with its own address.

A :class:`NamespaceNetwork` builds, on one Linux host, what a small cluster looks like
from the network's point of view::

    root namespace: bridge avXXXXbr 10.213.N.1/24
        ├── veth ── namespace avatar-XXXX-gateway   eth0 10.213.N.2
        ├── veth ── namespace avatar-XXXX-tts       eth0 10.213.N.3
        └── ...

Each node has its own loopback, its own port space and its own address; nodes reach
each other (and the root namespace reaches them) only over the bridge, as machines on
one LAN would. The /24 is private and exists only inside this host; it is picked so it
overlaps no address or route already present. Everything is removed on exit, also when
the block that used it failed. Needs root and iproute2 (``ip``).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

SUBNET_POOL = ipaddress.ip_network("10.213.0.0/16")
# Concurrent runs on one host must not pick the same /24.
LOCK_FILE = Path(tempfile.gettempdir()) / "avatar-netns.lock"
COMMAND_TIMEOUT_SECONDS = 15.0


class NetnsError(RuntimeError):
    """A namespace or link could not be made, or the host cannot make them."""


@dataclass(frozen=True, slots=True)
class Node:
    """One stand-in machine.

    Attributes:
        name: What runs there, e.g. ``"animator"``.
        namespace: The network namespace's name.
        address: Its IPv4 address on the bridge.
        host_link: The root namespace's end of its veth pair.
    """

    name: str
    namespace: str
    address: str
    host_link: str


def check_support() -> None:
    """Raises :class:`NetnsError` saying what is missing when namespaces cannot be made."""
    if shutil.which("ip") is None:
        raise NetnsError(
            "the `ip` command (iproute2) is missing: run tools/install-system-packages.sh "
            "or `apt-get install iproute2`"
        )
    if os.geteuid() != 0:
        raise NetnsError("network namespaces need root: run this as root (e.g. with sudo)")


def run_ip(*arguments: str, namespace: str | None = None) -> str:
    """Runs one ``ip`` command (inside ``namespace`` when given) and returns its output.

    Raises:
        NetnsError: The command failed; the message carries its error output.
    """
    command = ["ip", *(["-n", namespace] if namespace else []), *arguments]
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise NetnsError(f"{' '.join(command)}: {error}") from error
    if completed.returncode != 0:
        raise NetnsError(f"{' '.join(command)}: {completed.stderr.strip()}")
    return completed.stdout


def networks_in_use() -> list[ipaddress.IPv4Network]:
    """IPv4 networks of the root namespace's addresses and routes."""
    networks = []
    for line in run_ip("-4", "-o", "addr", "show").splitlines():
        fields = line.split()
        if "inet" in fields:
            networks.append(ipaddress.ip_interface(fields[fields.index("inet") + 1]).network)
    route_types = ("broadcast", "local", "unicast", "unreachable", "blackhole", "prohibit")
    for line in run_ip("-4", "route", "show", "table", "all").splitlines():
        fields = line.split()
        if fields and fields[0] in route_types:
            fields = fields[1:]
        # "default" routes overlap everything; more specific routes win over them anyway.
        if fields and fields[0] != "default":
            with contextlib.suppress(ValueError):
                networks.append(ipaddress.ip_network(fields[0], strict=False))
    return [network for network in networks if network.version == 4]


def pick_subnet(
    used: Sequence[ipaddress.IPv4Network], pool: ipaddress.IPv4Network = SUBNET_POOL
) -> ipaddress.IPv4Network:
    """Returns a random /24 of ``pool`` that overlaps none of ``used``.

    A default route (0.0.0.0/0) does not count: it overlaps everything, and routes
    more specific than it win.

    Raises:
        NetnsError: Every /24 of the pool is taken.
    """
    specific = [network for network in used if network.prefixlen > 0]
    candidates = list(pool.subnets(new_prefix=24))
    for index in sorted(range(len(candidates)), key=lambda _: secrets.randbits(32)):
        subnet = candidates[index]
        if not any(subnet.overlaps(network) for network in specific):
            return subnet
    raise NetnsError(f"no free /24 left in {pool}")


class NamespaceNetwork:
    """A bridge in the root namespace and one namespace (node) per name, addressed in a /24.

    Args:
        names: One node per name, e.g. the services; at most 250.
        subnet: The /24 to use (e.g. ``"10.213.7.0/24"``); None picks a free one.

    Use as a context manager, or call :meth:`create` and :meth:`destroy`.
    """

    def __init__(self, names: Sequence[str], subnet: str | None = None) -> None:
        if not names or len(names) > 250 or len(set(names)) != len(names):
            raise ValueError("names must be 1-250 distinct node names")
        self.names = list(names)
        self.requested_subnet = ipaddress.ip_network(subnet) if subnet else None
        # Interface names are limited to 15 characters: a short random tag keeps
        # several networks on one host apart.
        self.tag = secrets.token_hex(2)
        self.bridge = f"av{self.tag}br"
        self.subnet: ipaddress.IPv4Network | None = None
        self.nodes: dict[str, Node] = {}
        self._bridge_created = False

    @property
    def bridge_address(self) -> str:
        """The root namespace's address on the bridge (the first host of the /24)."""
        if self.subnet is None:
            raise NetnsError("the network has not been created")
        return str(next(self.subnet.hosts()))

    def node(self, name: str) -> Node:
        """The node called ``name``."""
        return self.nodes[name]

    def create(self) -> NamespaceNetwork:
        """Makes the bridge, the namespaces and their links; undoes all of it on failure."""
        check_support()
        try:
            with _host_lock():
                self.subnet = self.requested_subnet or pick_subnet(networks_in_use())
                if self.subnet.prefixlen != 24:
                    raise NetnsError(f"subnet {self.subnet} is not a /24")
                run_ip("link", "add", self.bridge, "type", "bridge")
                self._bridge_created = True
                run_ip("addr", "add", f"{self.bridge_address}/24", "dev", self.bridge)
                run_ip("link", "set", self.bridge, "up")
            addresses = list(self.subnet.hosts())[1:]
            for index, name in enumerate(self.names):
                self._add_node(index, name, str(addresses[index]))
        except BaseException:
            self.destroy()
            raise
        return self

    def _add_node(self, index: int, name: str, address: str) -> None:
        node = Node(name, f"avatar-{self.tag}-{name}", address, f"av{self.tag}n{index}")
        run_ip("netns", "add", node.namespace)
        self.nodes[name] = node
        run_ip("link", "add", node.host_link, "type", "veth", "peer", "name", "eth0",
               "netns", node.namespace)  # fmt: skip
        run_ip("link", "set", node.host_link, "master", self.bridge, "up")
        run_ip("addr", "add", f"{address}/24", "dev", "eth0", namespace=node.namespace)
        run_ip("link", "set", "eth0", "up", namespace=node.namespace)
        run_ip("link", "set", "lo", "up", namespace=node.namespace)

    def exec_prefix(self, name: str) -> list[str]:
        """The command prefix that runs a program inside the node's namespace."""
        return ["ip", "netns", "exec", self.node(name).namespace]

    def pids(self, name: str) -> list[int]:
        """Process ids running inside the node's namespace."""
        output = run_ip("netns", "pids", self.node(name).namespace)
        return [int(pid) for pid in output.split()]

    def kill_processes(self, name: str, grace_seconds: float = 10.0) -> list[int]:
        """Stops every process of a node: SIGTERM, then SIGKILL after ``grace_seconds``.

        Returns:
            The process ids that were running.
        """
        pids = self.pids(name)
        _signal_all(pids, signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        while (alive := [pid for pid in pids if _running(pid)]) and time.monotonic() < deadline:
            time.sleep(0.05)
        _signal_all(alive, signal.SIGKILL)
        return pids

    def destroy(self) -> list[str]:
        """Removes every namespace (killing what still runs there) and the bridge.

        Best effort: keeps going past failures and returns their messages.
        """
        problems = []
        for node in list(self.nodes.values()):
            try:
                self.kill_processes(node.name, grace_seconds=2.0)
                # The kernel frees a namespace's links lazily; deleting the pair
                # first makes it go now.
                with contextlib.suppress(NetnsError):
                    run_ip("link", "del", node.host_link)
                run_ip("netns", "del", node.namespace)
                del self.nodes[node.name]
            except NetnsError as error:
                problems.append(str(error))
        if self._bridge_created:
            try:
                run_ip("link", "del", self.bridge)
                self._bridge_created = False
            except NetnsError as error:
                problems.append(str(error))
        return problems

    def __enter__(self) -> NamespaceNetwork:
        return self.create()

    def __exit__(self, *exc_info) -> None:
        self.destroy()


@contextlib.contextmanager
def _host_lock() -> Iterator[None]:
    with open(LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _signal_all(pids: Sequence[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def _running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent counts as stopped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
