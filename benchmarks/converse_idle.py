"""What idle live sessions cost: N Converse sessions showing the idle loop, no turn.

Starts the stack as five processes on free ports (or uses a running gateway), creates
the sample avatar, then for each N in ``--sessions`` opens N ``Converse`` sessions at
once, lets them idle for ``--seconds`` and closes them. Per configuration it reports:

* gateway CPU: the gateway process's CPU seconds (user + system, from ``/proc``) per
  second of wall time, in all, and per session above the gateway's own idle cost
  (measured first, with no session open); only with ``--start-stack``, where the
  gateway is a process of this machine;
* frames per second each session received (25 means the clock kept real time) and
  the longest gap between two frames a session received;
* the gateway's resident memory after the run.

The first session of an avatar renders its idle loop; every later one is served from
the gateway's memory, so the sessions opened here find it cached (a warm-up session
runs first).

    python -m benchmarks.converse_idle --start-stack                   # 1, 4, 16 for 10 s
    python -m benchmarks.converse_idle --gateway HOST:PORT --avatar ID --sessions 1,8
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import grpc

from avatar.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from benchmarks.local_stack import process_memory, running_stack
from benchmarks.reporting import describe_machine, machine, markdown_table, write_outputs

CLK_TCK = 100  # os.sysconf("SC_CLK_TCK") on Linux


@dataclass
class SessionResult:
    """What one idle session received.

    Attributes:
        frames: Frames received while measured.
        seconds: How long it was measured.
        longest_gap: Longest time between two frames, seconds.
        error: The status that ended it early, if any.
    """

    frames: int = 0
    seconds: float = 0.0
    longest_gap: float = 0.0
    error: str = ""


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a process has used."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


async def idle_session(
    channel: grpc.aio.Channel, avatar_id: str, measure_from: float, measure_until: float
) -> SessionResult:
    """Opens one session and counts its frames between the two times."""
    stub = gateway_pb2_grpc.GatewayServiceStub(channel)
    closed = asyncio.Event()

    async def requests():
        yield gateway_pb2.ConverseRequest(config=gateway_pb2.ConverseConfig(avatar_id=avatar_id))
        await closed.wait()

    result = SessionResult()
    last = None
    call = stub.Converse(requests())
    try:
        async for event in call:
            if event.WhichOneof("event") != "frames":
                continue
            now = time.perf_counter()
            if measure_from <= now < measure_until:
                result.frames += len(event.frames.frames)
                if last is not None:
                    result.longest_gap = max(result.longest_gap, now - last)
                last = now
            if now >= measure_until:
                closed.set()
    except grpc.aio.AioRpcError as error:
        result.error = f"{error.code().name}: {error.details()}"
    result.seconds = measure_until - measure_from
    return result


async def run_configuration(
    address: str, avatar_id: str, sessions: int, seconds: float, gateway_pid: int | None
) -> dict:
    """N sessions at once; the first second after they open is not measured."""
    channels = [grpc.aio.insecure_channel(address) for _ in range(sessions)]
    try:
        start = time.perf_counter() + 1.0
        until = start + seconds
        tasks = [
            asyncio.create_task(idle_session(channel, avatar_id, start, until))
            for channel in channels
        ]
        await asyncio.sleep(max(0.0, start - time.perf_counter()))
        cpu_before = process_cpu_seconds(gateway_pid) if gateway_pid else None
        await asyncio.sleep(max(0.0, until - time.perf_counter()))
        cpu_after = process_cpu_seconds(gateway_pid) if gateway_pid else None
        results = await asyncio.gather(*tasks)
    finally:
        for channel in channels:
            await channel.close()
    row: dict = {
        "sessions": sessions,
        "seconds": seconds,
        "frames_per_second": [r.frames / r.seconds for r in results],
        "longest_gap_seconds": max(r.longest_gap for r in results),
        "errors": [r.error for r in results if r.error],
    }
    if cpu_before is not None and cpu_after is not None:
        row["gateway_cpu_per_second"] = (cpu_after - cpu_before) / seconds
    if gateway_pid:
        row["gateway_rss_bytes"] = process_memory(gateway_pid)[0]
    return row


def markdown(rows: list[dict], info: dict, baseline: float | None) -> str:
    """The table of the run."""
    header = [
        "sessions",
        "gateway CPU s/s",
        "per session (above the gateway alone)",
        "frames/s per session (min-max)",
        "longest frame gap",
        "gateway RSS",
        "errors",
    ]
    lines = []
    for row in rows:
        fps = row["frames_per_second"]
        cpu = row.get("gateway_cpu_per_second")
        per = row.get("gateway_cpu_per_second_per_session")
        rss = row.get("gateway_rss_bytes")
        lines.append(
            [
                row["sessions"],
                f"{cpu:.3f}" if cpu is not None else "-",
                f"{per:.4f}" if per is not None else "-",
                f"{min(fps):.2f}-{max(fps):.2f}",
                f"{row['longest_gap_seconds'] * 1000:.0f} ms",
                f"{rss / 2**20:.0f} MiB" if rss else "-",
                len(row["errors"]),
            ]
        )
    alone = f"; the gateway alone: {baseline:.3f} CPU s/s" if baseline is not None else ""
    return (
        f"Idle Converse sessions, {rows[0]['seconds']:g} s each{alone}. "
        f"{describe_machine(info)}\n\n" + markdown_table(header, lines)
    )


async def measure(
    address: str, avatar_id: str, counts: list[int], seconds: float, pid: int | None
) -> tuple[float | None, list[dict]]:
    """A warm-up session (renders the idle loop), the gateway alone, then every
    configuration; returns the gateway's own CPU per second and the rows."""
    await run_configuration(address, avatar_id, 1, 1.0, None)
    baseline = None
    if pid:
        before = process_cpu_seconds(pid)
        await asyncio.sleep(seconds)
        baseline = (process_cpu_seconds(pid) - before) / seconds
    rows = [await run_configuration(address, avatar_id, n, seconds, pid) for n in counts]
    for row in rows:
        if baseline is not None and "gateway_cpu_per_second" in row:
            extra = row["gateway_cpu_per_second"] - baseline
            row["gateway_cpu_per_second_per_session"] = extra / row["sessions"]
    return baseline, rows


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmark and prints its table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start-stack", action="store_true", help="start the five services")
    parser.add_argument("--gateway", default="127.0.0.1:50051", help="gateway host:port")
    parser.add_argument("--avatar", default="", help="avatar id (with --gateway)")
    parser.add_argument("--sessions", default="1,4,16", help="session counts, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds each")
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.sessions.split(",") if n.strip()]
    if args.start_stack:
        max_sessions = str(max(16, *counts))
        with (
            tempfile.TemporaryDirectory() as work,
            running_stack(Path(work), {"AVATAR_GATEWAY_MAX_SESSIONS": max_sessions}) as running,
        ):
            baseline, rows = asyncio.run(
                measure(
                    running.stack.gateway_address,
                    running.avatar_id,
                    counts,
                    args.seconds,
                    running.pid("gateway"),
                )
            )
    else:
        if not args.avatar:
            parser.error("--avatar is needed with --gateway")
        baseline, rows = asyncio.run(measure(args.gateway, args.avatar, counts, args.seconds, None))
    info = machine()
    table = markdown(rows, info, baseline)
    data = {"machine": info, "gateway_alone_cpu_per_second": baseline, "rows": rows}
    write_outputs(args.output_dir, "converse_idle", data, table)
    print(table)
    return 1 if any(row["errors"] for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
