"""Soak: the five services under steady load for minutes, watching for leaks and drift.

Starts the stack as five processes on free ports (with a fake LLM), then keeps
``--streams`` Speak calls running back to back for ``--minutes``: plain speech in low
quality, high quality through the enhancer, and chat through the llm service, so every
service works all along. Every ``--sample-seconds`` it reads each process's resident
memory and open file descriptors from ``/proc``. It reports:

* errors: calls that failed (must be none);
* per service, resident memory and descriptors at the start and end and their slope
  (least squares over the samples after the first fifth of the run, the warm-up),
  in bytes and descriptors per minute;
* the A/V offset of every call, ``|audio seconds - frames / fps|``, and its drift over
  the run (slope, seconds per minute).

    python -m benchmarks.soak                        # 10 minutes, 4 streams
    python -m benchmarks.soak --minutes 1 --streams 2 --output-dir /tmp/soak
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import grpc
import numpy as np

from avatar.gateway.v1 import gateway_pb2
from avatar_devtools.client import GatewayClient
from benchmarks.local_stack import SERVICES, RunningStack, process_memory, running_stack
from benchmarks.reporting import describe_machine, machine

FPS = 25.0
WARM_UP_SHARE = 0.2
# The calls each stream cycles through: every service gets work all along.
REQUESTS = [
    {"text": "Hello there. The weather is lovely today, and the hills are green."},
    {"text": "Bob made a bumpy map of the pebbles.", "quality": gateway_pb2.QUALITY_HIGH},
    {"text": "What is a fjord?", "mode": gateway_pb2.SPEAK_MODE_CHAT},
    {"text": "We should meet again soon. Until then, take care!"},
]


@dataclass
class SoakLog:
    """What the run recorded."""

    started: float = field(default_factory=time.perf_counter)
    samples: list[dict] = field(default_factory=list)  # elapsed, then rss/fds per service
    calls: list[dict] = field(default_factory=list)  # elapsed, seconds, av offset
    errors: list[str] = field(default_factory=list)

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.perf_counter() - self.started


async def run_stream(running: RunningStack, index: int, until: float, log: SoakLog) -> None:
    """Speaks back to back until ``until`` (a ``perf_counter`` time)."""
    cycle = itertools.islice(itertools.cycle(REQUESTS), index, None)
    async with GatewayClient(running.stack.gateway_address) as client:
        for fields in cycle:
            if time.perf_counter() >= until:
                return
            request = gateway_pb2.SpeakRequest(avatar_id=running.avatar_id, fps=FPS, **fields)
            started = time.perf_counter()
            try:
                result = await client.speak(request, timeout=120)
            except grpc.aio.AioRpcError as error:
                log.errors.append(f"{error.code().name}: {error.details()}")
                continue
            audio_seconds = len(result.audio) / 2 / result.started.sample_rate
            log.calls.append(
                {
                    "elapsed": log.elapsed(),
                    "seconds": time.perf_counter() - started,
                    "av_offset": abs(audio_seconds - result.frames / FPS),
                }
            )


async def sample_processes(
    running: RunningStack, interval: float, until: float, log: SoakLog
) -> None:
    """Reads every process's memory and descriptors each ``interval`` until ``until``."""
    while True:
        sample: dict = {"elapsed": log.elapsed()}
        for service in SERVICES:
            rss, fds = process_memory(running.pid(service))
            sample[service] = {"rss": rss, "fds": fds}
        log.samples.append(sample)
        if time.perf_counter() + interval > until:
            return
        await asyncio.sleep(interval)


def slope_per_minute(times: list[float], values: list[float]) -> float:
    """Least-squares slope of ``values`` against ``times`` (seconds), per minute."""
    if len(times) < 2 or max(times) == min(times):
        return 0.0
    return float(np.polyfit(np.asarray(times), np.asarray(values, dtype=float), 1)[0] * 60.0)


def summarize(log: SoakLog, duration: float) -> dict:
    """The report: errors, per-process memory and descriptors with slopes, A/V offsets."""
    steady = [s for s in log.samples if s["elapsed"] >= WARM_UP_SHARE * duration] or log.samples
    processes = {}
    for service in SERVICES:
        times = [s["elapsed"] for s in steady]
        rss = [s[service]["rss"] for s in steady]
        fds = [s[service]["fds"] for s in steady]
        processes[service] = {
            "rss_start_bytes": log.samples[0][service]["rss"],
            "rss_end_bytes": log.samples[-1][service]["rss"],
            "rss_max_bytes": max(s[service]["rss"] for s in log.samples),
            "rss_slope_bytes_per_minute": slope_per_minute(times, rss),
            "fds_start": log.samples[0][service]["fds"],
            "fds_end": log.samples[-1][service]["fds"],
            "fds_slope_per_minute": slope_per_minute(times, fds),
        }
    offsets = [call["av_offset"] for call in log.calls]
    return {
        "calls": len(log.calls),
        "errors": len(log.errors),
        "error_examples": log.errors[:10],
        "samples": len(log.samples),
        "processes": processes,
        "av_offset_seconds": {
            "max": max(offsets, default=0.0),
            "mean": float(np.mean(offsets)) if offsets else 0.0,
            "slope_per_minute": slope_per_minute([c["elapsed"] for c in log.calls], offsets),
        },
        "call_seconds_p50": float(np.median([c["seconds"] for c in log.calls] or [0.0])),
        # Every sample: seconds, then each process's resident memory in MiB.
        "rss_mib_series": [
            [round(s["elapsed"], 1), *(round(s[svc]["rss"] / 2**20, 1) for svc in SERVICES)]
            for s in log.samples
        ],
    }


async def soak(running: RunningStack, minutes: float, streams: int, interval: float) -> dict:
    """Runs the load and the sampler side by side; returns the summary."""
    log = SoakLog()
    duration = minutes * 60.0
    until = log.started + duration
    await asyncio.gather(
        sample_processes(running, interval, until, log),
        *(run_stream(running, index, until, log) for index in range(streams)),
    )
    return summarize(log, duration)


def markdown(report: dict) -> str:
    """A table of the per-process figures and a line of totals."""
    lines = [
        "| service | RSS start MB | RSS end MB | RSS slope KB/min | fds start | fds end "
        "| fds slope /min |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for service, p in report["processes"].items():
        lines.append(
            f"| {service} | {p['rss_start_bytes'] / 2**20:.1f} | {p['rss_end_bytes'] / 2**20:.1f} "
            f"| {p['rss_slope_bytes_per_minute'] / 1024:+.1f} | {p['fds_start']} | {p['fds_end']} "
            f"| {p['fds_slope_per_minute']:+.2f} |"
        )
    offset = report["av_offset_seconds"]
    lines.append("")
    lines.append(
        f"{report['calls']} calls, {report['errors']} errors; A/V offset max "
        f"{offset['max'] * 1000:.1f} ms, mean {offset['mean'] * 1000:.1f} ms, drift "
        f"{offset['slope_per_minute'] * 1000:+.3f} ms/min"
    )
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to run")
    parser.add_argument("--streams", type=int, default=4, help="concurrent Speak calls")
    parser.add_argument("--sample-seconds", type=float, default=10.0, help="sampling interval")
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the soak; exits 1 when any call failed."""
    args = build_parser().parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="avatar-soak-") as work,
        running_stack(Path(work)) as running,
    ):
        report = asyncio.run(soak(running, args.minutes, args.streams, args.sample_seconds))
    result = {
        "machine": machine(),
        "settings": {"minutes": args.minutes, "streams": args.streams},
        "report": report,
    }
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.output_dir / "soak.md").write_text(markdown(report))
    print(describe_machine(result["machine"]))
    print(markdown(report))
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
