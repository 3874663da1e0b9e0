"""The animator's Prometheus metrics, on the server's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from avatar_core.metrics import ServiceMetrics

# Rendering a 512x512 frame takes milliseconds; the buckets resolve that range.
FRAME_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.04, 0.1, 0.25)


class AnimatorMetrics:
    """Frames rendered and their per-step times, and the prepared-face cache.

    Args:
        registry: The server's metrics registry.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        # Model load time, the worker pool's queue and the prepared-face cache lookups.
        self.service = ServiceMetrics(registry)
        self.prepared_faces = Counter(
            "avatar_animator_prepared_faces",
            "Face preparations requested, by whether the cache had the photo.",
            ["cache"],
            registry=registry,
        )
        self.frames = Counter(
            "avatar_animator_frames",
            "Frames rendered, by what drove the mouth (timings or audio).",
            ["driver"],
            registry=registry,
        )
        self.frame_seconds = Histogram(
            "avatar_animator_frame_seconds",
            "Time per frame of each step (render, encode, lipsync: the lip-sync model's part, "
            "touchup: high quality's touch-up of the moving regions, per frame when a "
            "lip-sync model draws the mouth).",
            ["step"],
            buckets=FRAME_BUCKETS,
            registry=registry,
        )
        self.lipsync_frames = Counter(
            "avatar_animator_lipsync_frames",
            "Frames whose mouth the lip-sync model drew.",
            registry=registry,
        )
        self.touched_stills = Counter(
            "avatar_animator_touched_stills",
            "Stills whose moving regions were touched up for high quality (once per "
            "avatar, still and touch-up: the frames are drawn from them).",
            registry=registry,
        )
        self.cached_faces = Gauge(
            "avatar_animator_cached_faces", "Prepared faces in the cache.", registry=registry
        )

    def count_preparation(self, cache_hit: bool) -> None:
        """Counts one face preparation, in this metric and the shared cache lookups."""
        self.prepared_faces.labels("hit" if cache_hit else "miss").inc()
        self.service.count_lookup("prepared_faces", cache_hit)

    def count_drawn_still(self, cache_hit: bool, touched: bool) -> None:
        """Counts one lookup of a face drawn from another still (or touched up), and the
        touch-up of its still when it was made now."""
        self.service.count_lookup("drawn_stills", cache_hit)
        if touched and not cache_hit:
            self.touched_stills.inc()

    def record_frames(
        self, driver: str, count: int, render_seconds: float, encode_seconds: float
    ) -> None:
        """Counts ``count`` rendered frames and observes their per-frame render and encode times.

        Args:
            driver: What drove the mouth: ``"timings"`` or ``"audio"``.
            count: Frames rendered (at least one).
            render_seconds: Time rendering all of them took.
            encode_seconds: Time encoding all of them took.
        """
        self.frames.labels(driver).inc(count)
        self.frame_seconds.labels("render").observe(render_seconds / count)
        self.frame_seconds.labels("encode").observe(encode_seconds / count)

    def record_touchup(self, count: int, seconds: float) -> None:
        """Observes the per-frame time of touching up ``count`` frames' moving regions."""
        self.frame_seconds.labels("touchup").observe(seconds / count)

    def record_lipsync(self, count: int, seconds: float) -> None:
        """Counts ``count`` frames the lip-sync model drew and observes its time per frame."""
        self.lipsync_frames.inc(count)
        self.frame_seconds.labels("lipsync").observe(seconds / count)
