"""The llm service's Prometheus metrics, on the server's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from avatar_core.metrics import LATENCY_BUCKETS


class LlmMetrics:
    """Time to the first answer delta, answer length, history sent, upstream failures.

    Args:
        registry: The server's metrics registry.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.time_to_first_delta = Histogram(
            "avatar_llm_time_to_first_delta_seconds",
            "Time from a chat request to the first piece of the answer.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.answer_characters = Counter(
            "avatar_llm_answer_characters",
            "Characters of answer text streamed.",
            registry=registry,
        )
        self.history_messages = Histogram(
            "avatar_llm_history_messages",
            "Earlier messages of the conversation a chat request carried.",
            buckets=(0, 1, 2, 4, 8, 16, 32, 64, 128, 200),
            registry=registry,
        )
        self.upstream_errors = Counter(
            "avatar_llm_upstream_errors",
            "Failed requests to the model endpoint, by kind (connection, timeout, status).",
            ["kind"],
            registry=registry,
        )
