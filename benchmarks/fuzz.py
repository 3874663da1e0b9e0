"""Long fuzzing run: tens of thousands of generated requests against the five services.

Starts the stack as five processes on free ports (with a fake LLM), then sends every RPC
Hypothesis-generated messages - well-formed and shuffled streams, NaN and extreme
numbers, unknown enum values, valid ids and photos mixed with random ones - and raw
bytes through a generic channel method, until ``--cases`` calls have been made. A
case fails when a call ends with anything but a clear status (INTERNAL, UNKNOWN,
UNAVAILABLE, DEADLINE_EXCEEDED...). Afterwards every process must still be running,
say SERVING and answer a normal Speak, and no server may have answered INTERNAL or
UNKNOWN. ``make test`` runs a few hundred fixed cases in-process
(``tests/reliability/test_fuzz.py``).

    python -m benchmarks.fuzz                 # 10,000 cases, results in benchmarks/results
    python -m benchmarks.fuzz --cases 500 --output-dir /tmp/fuzz
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from avatar.gateway.v1 import gateway_pb2
from avatar_core.frames import encode_frame
from avatar_devtools.client import GatewayClient
from avatar_devtools.fuzz_overrides import avatar_overrides
from avatar_devtools.fuzzing import Fuzzer, all_rpcs
from benchmarks.local_stack import PHOTO, SERVICES, RunningStack, running_stack
from benchmarks.reporting import describe_machine, machine

RAW_SHARE = 0.3  # of the cases, raw bytes; the rest typed messages


def _frame_jpeg() -> bytes:
    import numpy as np

    pixels = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    return encode_frame(pixels, 0).data


def fuzz(running: RunningStack, cases: int, timeout: float, progress=print) -> dict:
    """Fuzzes until ``cases`` calls were made; returns the report as a dictionary."""
    overrides = avatar_overrides(running.avatar_id, running.content_hash, PHOTO, _frame_jpeg())
    fuzzer = Fuzzer(running.addresses(), overrides, timeout=timeout)
    rpcs = len(all_rpcs())
    try:
        while fuzzer.report.cases < cases:
            left = cases - fuzzer.report.cases
            typed = math.ceil(left * (1 - RAW_SHARE) / rpcs)
            raw = math.ceil(left * RAW_SHARE / rpcs)
            fuzzer.run(typed, raw)
            progress(f"{fuzzer.report.cases} cases, {len(fuzzer.report.findings)} errors")
    finally:
        fuzzer.close()
    return fuzzer.report.summary()


def check_health(running: RunningStack) -> dict:
    """After the run: processes alive, SERVING, a normal Speak works, no server errors."""
    server_errors = {
        service: running.metric(service, "grpc_server_handled_total", grpc_code=code)
        for service in SERVICES
        for code in ("INTERNAL", "UNKNOWN")
    }

    async def speak() -> int:
        async with GatewayClient(running.stack.gateway_address) as client:
            request = gateway_pb2.SpeakRequest(avatar_id=running.avatar_id, text="Still here.")
            return (await client.speak(request, timeout=60)).frames

    return {
        "exited": running.exited(),
        "serving": {service: running.is_serving(service) for service in SERVICES},
        "speak_frames_after": asyncio.run(speak()),
        "server_internal_or_unknown": sum(server_errors.values()),
    }


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000, help="calls to make in all")
    parser.add_argument("--timeout", type=float, default=30.0, help="deadline of each call, s")
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the fuzzing benchmark; exits 1 when any case failed or a service broke."""
    args = build_parser().parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="avatar-fuzz-") as work,
        running_stack(Path(work)) as running,
    ):
        report = fuzz(running, args.cases, args.timeout, progress=print)
        health = check_health(running)
    result = {"machine": machine(), "report": report, "after": health}
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "fuzz.json").write_text(json.dumps(result, indent=2) + "\n")
    broken = (
        report["errors"]
        or health["exited"]
        or not all(health["serving"].values())
        or not health["speak_frames_after"]
        or health["server_internal_or_unknown"]
    )
    print(describe_machine(result["machine"]))
    print(
        f"{report['cases']} cases in {report['seconds']:.0f} s, {report['errors']} errors; "
        f"statuses {report['codes']}; after: {health}"
    )
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
