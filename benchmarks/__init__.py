"""Benchmarks: the latency client (``benchmarks.latency``) and per-stage throughput
against batch size (``benchmarks.stages``). Run them with ``make bench``."""
