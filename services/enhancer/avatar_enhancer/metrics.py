"""The enhancer's Prometheus metrics, on the server's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from avatar_core.metrics import ServiceMetrics


class EnhancerMetrics:
    """Frames enhanced per backend, with the shared service metrics.

    Args:
        registry: The server's metrics registry.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        # Backend load time and the worker pool's queue.
        self.service = ServiceMetrics(registry)
        self.frames = Counter(
            "avatar_enhancer_frames", "Frames enhanced.", ["backend"], registry=registry
        )
