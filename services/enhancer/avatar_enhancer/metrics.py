"""The enhancer's Prometheus metrics, on the server's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from avatar_core.metrics import ServiceMetrics


class EnhancerMetrics:
    """Frames enhanced per backend, where their faces came from, and the shared metrics.

    Args:
        registry: The server's metrics registry.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        # Backend load times and the worker pool's queue.
        self.service = ServiceMetrics(registry)
        self.frames = Counter(
            "avatar_enhancer_frames", "Frames enhanced.", ["backend"], registry=registry
        )
        # Whether face restoration knew where the face was: landmarks the caller sent,
        # found by the enhancer, held from an earlier frame, or missing (frame unchanged).
        self.faces = Counter(
            "avatar_enhancer_faces",
            "Frames the onnx backend aligned, by where their face landmarks came from.",
            ["source"],
            registry=registry,
        )
