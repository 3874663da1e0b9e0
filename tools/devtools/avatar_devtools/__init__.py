"""Developer tooling: the `avatar` CLI, the local stack, the multi-node demo, helpers for tests and benchmarks."""
