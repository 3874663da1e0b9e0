"""The llm service's Prometheus metrics, on the server's registry."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from avatar_core.metrics import LATENCY_BUCKETS


class LlmMetrics:
    """Time to the first answer delta, answer length, upstream failures, conversations kept.

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
        self.upstream_errors = Counter(
            "avatar_llm_upstream_errors",
            "Failed requests to the model endpoint, by kind (connection, timeout, status).",
            ["kind"],
            registry=registry,
        )
        # Read at scrape time (see :meth:`count_conversations_with`).
        self.conversations = Gauge(
            "avatar_llm_conversations",
            "Conversations whose history is kept in memory.",
            registry=registry,
        )

    def count_conversations_with(self, count: Callable[[], int]) -> None:
        """Reports ``count()`` as the conversations gauge whenever metrics are scraped."""
        self.conversations.set_function(count)
