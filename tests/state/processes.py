"""The services as processes for the state tests: replicas of llm, gateways, shared data.

Each service runs as ``python -m avatar_<name>`` configured through its environment,
exactly as deployed; :class:`StateStack` starts tts and animator once, two llm replicas,
and as many gateways as a test asks for, all pointed at one fake OpenAI-compatible model
(in this process, so a test can read what it received) and one avatar directory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from avatar_devtools.fake_openai import FakeOpenAI, question_count_reply
from avatar_devtools.stack import LocalStack, StackPorts
from tests.support.network import free_ports, metric_value, scrape

DOWNSTREAM = ("llm", "tts", "animator", "enhancer")


@dataclass
class StateStack:
    """Running downstream services; gateways come and go.

    Attributes:
        root: Where logs and the avatar directory go.
        model: The fake model every llm replica talks to.
        media: The tts and animator processes.
        llm_replicas: The llm processes, one stack each.
    """

    root: Path
    model: FakeOpenAI
    media: LocalStack
    llm_replicas: list[LocalStack]
    gateways: list[LocalStack] = field(default_factory=list)

    @property
    def llm_target(self) -> str:
        """The gateway's llm address: every replica, balanced round robin."""
        ports = ",".join(f"127.0.0.1:{replica.ports.grpc['llm']}" for replica in self.llm_replicas)
        return f"ipv4:{ports}"

    def chat_calls(self) -> list[float]:
        """Chat calls each llm replica has answered, from its own metrics."""
        return [
            metric_value(
                scrape(replica.ports.metrics["llm"]),
                "grpc_server_handled_total",
                grpc_method="Chat",
                grpc_code="OK",
            )
            for replica in self.llm_replicas
        ]

    def start_gateway(
        self, conversations_url: str = "", ports: StackPorts | None = None
    ) -> LocalStack:
        """Starts a gateway process on free ports (or ``ports``) and waits until it serves."""
        if ports is None:
            grpc_port, metrics_port = free_ports(2)
            grpc = {"gateway": grpc_port, **self.media.ports.grpc, "llm": 0, "enhancer": 0}
            ports = StackPorts(grpc=grpc, metrics={"gateway": metrics_port})
        environment = {
            "AVATAR_GATEWAY_AVATAR_DIR": str(self.root / "avatars"),
            "AVATAR_GATEWAY_IDLE_CLIP_SECONDS": "0.5",
            "AVATAR_GATEWAY_LLM_ADDRESS": self.llm_target,
            "AVATAR_GATEWAY_CONVERSATIONS_URL": conversations_url,
        }
        gateway = LocalStack(
            ports, environment, log_dir=self.root / "logs" / f"gateway-{ports.grpc['gateway']}"
        )
        gateway.start(["gateway"])
        gateway.wait_until_serving(120)
        self.gateways.append(gateway)
        return gateway

    def stop_gateway(self, gateway: LocalStack) -> None:
        """Stops a gateway (SIGTERM, as an orchestrator would)."""
        gateway.stop()
        self.gateways.remove(gateway)


@contextlib.contextmanager
def state_stack(root: Path, llm_replicas: int = 2) -> Iterator[StateStack]:
    """tts, animator and ``llm_replicas`` llm processes, a fake model; gateways on demand."""
    model = FakeOpenAI(reply=question_count_reply)
    with contextlib.ExitStack() as stack:
        stack.enter_context(model)
        ports = free_ports(4 + 2 * llm_replicas)
        media = LocalStack(
            StackPorts(
                grpc={"tts": ports[0], "animator": ports[1]},
                metrics={"tts": ports[2], "animator": ports[3]},
            ),
            log_dir=root / "logs" / "media",
        )
        stack.enter_context(media)
        media.start(["tts", "animator"])
        replicas = []
        llm_environment = {"AVATAR_LLM_BASE_URL": model.base_url, "AVATAR_LLM_MODEL": model.model}
        for number in range(llm_replicas):
            grpc_port, metrics_port = ports[4 + 2 * number : 6 + 2 * number]
            replica = LocalStack(
                StackPorts(grpc={"llm": grpc_port}, metrics={"llm": metrics_port}),
                llm_environment,
                log_dir=root / "logs" / f"llm-{number}",
            )
            stack.enter_context(replica)
            replica.start(["llm"])
            replicas.append(replica)
        for started in (media, *replicas):
            started.wait_until_serving(180)
        running = StateStack(root, model, media, replicas)
        try:
            yield running
        finally:
            for gateway in list(running.gateways):
                running.stop_gateway(gateway)
