"""Latency benchmark of the gateway: N concurrent streams x M iterations, Riva's method.

Each of N streams (its own client and channel) runs M ``Speak`` calls one after the
other, after W warm-up calls that are not counted; all N streams run at once. For
every call the client measures time to first audio, time to first frame, the gaps
between media messages (audio or frames), the total time, the real-time factor
(total time / audio length) and the delivered frame rate (frames / total time).
Reported are p50/p90/p99 over every counted call of a configuration (text x quality
x streams), plus the aggregate frame rate of all streams together, and, when the
benchmark starts the stack itself, what the stack's processes spent: *cost per
stream*, CPU-seconds of all services per second of video delivered to one stream
(read from ``/proc/<pid>/stat`` before and after each configuration; the client's own
work is not counted), and the all-streams frame rate as a share of the floor: every
core doing nothing but JPEG-encoding the frames (measured here at start, 512 px,
quality 85, one thread).

Against a running gateway::

    python -m benchmarks.latency --gateway 127.0.0.1:50051 [--avatar ID]

or starting (and stopping) the whole stack on free ports itself, as ``make bench`` does::

    python -m benchmarks.latency --start-stack

Writes ``latency.json``, ``latency.md`` and ``latency.png`` to ``--output-dir``
(default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from avatar.gateway.v1 import gateway_pb2
from avatar_devtools.client import GatewayClient
from avatar_devtools.samples import sample_face
from avatar_devtools.stack import LocalStack, StackPorts, default_animators, unit_of
from benchmarks import latency_report
from benchmarks.latency_report import SHORT_TEXT
from benchmarks.reporting import describe_machine, machine, percentiles, write_outputs

TWO_SENTENCES = (
    "Hi, how are you today? The serene lake reflected the colors of the sunset "
    "like a painter's masterpiece."
)
QUALITIES = {"low": gateway_pb2.QUALITY_LOW, "high": gateway_pb2.QUALITY_HIGH}
METRICS = (
    "time_to_first_audio_seconds",
    "time_to_first_frame_seconds",
    "inter_chunk_gap_seconds",
    "total_seconds",
    "real_time_factor",
    "delivered_fps",
)
FPS = 25.0


@dataclass(slots=True)
class CallSample:
    """What one Speak call measured at the client."""

    time_to_first_audio_seconds: float = 0.0
    time_to_first_frame_seconds: float = 0.0
    total_seconds: float = 0.0
    audio_seconds: float = 0.0
    frames: int = 0
    gaps: list[float] = field(default_factory=list)

    @property
    def real_time_factor(self) -> float:
        """Total time over audio length; below 1 is faster than real time."""
        return self.total_seconds / self.audio_seconds if self.audio_seconds else 0.0

    @property
    def delivered_fps(self) -> float:
        """Frames received per second of the call."""
        return self.frames / self.total_seconds if self.total_seconds else 0.0


async def speak_once(client: GatewayClient, request: gateway_pb2.SpeakRequest) -> CallSample:
    """Runs one Speak call and measures it."""
    sample = CallSample()
    last_media: list[float] = []

    def watch(event: gateway_pb2.SpeakResponse, elapsed: float) -> None:
        if event.WhichOneof("event") in ("audio", "frames"):
            if last_media:
                sample.gaps.append(elapsed - last_media[0])
                last_media[0] = elapsed
            else:
                last_media.append(elapsed)

    result = await client.speak(request, timeout=600.0, on_event=watch)
    sample.time_to_first_audio_seconds = result.time_to_first_audio_seconds
    sample.time_to_first_frame_seconds = result.time_to_first_frame_seconds
    sample.total_seconds = result.total_seconds
    sample.audio_seconds = len(result.audio) / 2 / result.started.sample_rate
    sample.frames = result.frames
    return sample


async def run_stream(
    address: str, request: gateway_pb2.SpeakRequest, iterations: int, warmup: int
) -> tuple[list[CallSample], int]:
    """One stream: its own channel, ``warmup`` uncounted calls, then ``iterations`` calls.

    Returns:
        The counted calls, and the frames of every call (warm-up included).
    """
    async with GatewayClient(address) as client:
        warmup_frames = sum([(await speak_once(client, request)).frames for _ in range(warmup)])
        counted = [await speak_once(client, request) for _ in range(iterations)]
    return counted, warmup_frames + sum(sample.frames for sample in counted)


class StackCpu:
    """CPU seconds the stack's processes have used so far, from ``/proc``.

    Args:
        pids: Each process, by its name in the stack (a service's, or a replica's such
            as ``animator-2``, counted with its service).
    """

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids
        self._tick = os.sysconf("SC_CLK_TCK")

    def seconds(self) -> float:
        """User + system CPU seconds of every process, children included."""
        return sum(self.by_service().values())

    def by_service(self) -> dict[str, float]:
        """User + system CPU seconds of each service's processes, children included."""
        seconds: dict[str, float] = {}
        for name, pid in self._pids.items():
            service = unit_of(name)
            seconds[service] = seconds.get(service, 0.0) + self._process_seconds(pid)
        return seconds

    def _process_seconds(self, pid: int) -> float:
        with open(f"/proc/{pid}/stat") as stat:
            # Fields after the command name (which may hold spaces): utime is the
            # 14th field of the line, stime 15th, cutime 16th, cstime 17th.
            fields = stat.read().rsplit(")", 1)[1].split()
        return sum(int(value) for value in fields[11:15]) / self._tick


def jpeg_floor_fps(seconds: float = 1.0) -> float:
    """Frames per CPU second one core JPEG-encodes at 512 px, quality 85: the floor."""
    cv2.setNumThreads(1)
    bgr = cv2.imdecode(np.frombuffer(sample_face(), np.uint8), cv2.IMREAD_COLOR)
    frame = cv2.resize(bgr, (512, 512))
    frames, started = 0, time.process_time()
    while (spent := time.process_time() - started) < seconds:
        cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
        frames += 1
    return frames / spent


async def run_configuration(
    address: str,
    request: gateway_pb2.SpeakRequest,
    streams: int,
    iterations: int,
    warmup: int,
    cpu: StackCpu | None = None,
) -> dict:
    """Runs ``streams`` streams at once and summarises their calls."""
    cpu_before = cpu.by_service() if cpu else {}
    started = time.perf_counter()
    per_stream = await asyncio.gather(
        *(run_stream(address, request, iterations, warmup) for _ in range(streams))
    )
    wall_seconds = time.perf_counter() - started
    samples = [sample for counted, _ in per_stream for sample in counted]
    all_frames = sum(frames for _, frames in per_stream)
    summary = {
        "calls": len(samples),
        "wall_seconds": wall_seconds,
        "audio_seconds": samples[0].audio_seconds,
        "frames": samples[0].frames,
        # Every frame every stream received (warm-up too) over the whole run.
        "aggregate_fps": all_frames / wall_seconds,
        "every_call_faster_than_real_time": all(s.real_time_factor < 1 for s in samples),
    }
    if cpu:
        spent = {
            service: seconds - cpu_before[service] for service, seconds in cpu.by_service().items()
        }
        summary["stack_cpu_seconds"] = sum(spent.values())
        # CPU-seconds of the stack (and of each service) per second of one stream's video.
        video_seconds = all_frames / FPS
        summary["cost_per_stream"] = summary["stack_cpu_seconds"] / video_seconds
        summary["cost_by_service"] = {
            service: seconds / video_seconds for service, seconds in spent.items()
        }
    for metric in METRICS:
        if metric == "inter_chunk_gap_seconds":
            values = [gap for sample in samples for gap in sample.gaps]
        else:
            values = [getattr(sample, metric) for sample in samples]
        summary[metric] = percentiles(values)
    return summary


async def sweep(
    address: str,
    avatar_id: str,
    texts: list[str],
    qualities: list[str],
    stream_counts: list[int],
    iterations: int,
    warmup: int,
    progress=print,
    cpu: StackCpu | None = None,
) -> list[dict]:
    """Every text x quality x stream count, one after the other."""
    results = []
    for text in texts:
        for quality in qualities:
            request = gateway_pb2.SpeakRequest(
                avatar_id=avatar_id, text=text, quality=QUALITIES[quality]
            )
            for streams in stream_counts:
                summary = await run_configuration(
                    address, request, streams, iterations, warmup, cpu
                )
                results.append({"text": text, "quality": quality, "streams": streams, **summary})
                progress(latency_report.progress_line(results[-1]))
    return results


async def create_sample_avatar(address: str) -> str:
    """Creates an avatar from the bundled sample face; returns its id."""
    photo = sample_face()
    async with GatewayClient(address) as client:
        return (await client.create_avatar(photo, "benchmark")).avatar_id


def start_stack(work_dir: Path, progress=print, animators: int = 1) -> LocalStack:
    """Starts the five services on free ports (``animators`` animator processes), avatars
    and logs under ``work_dir``."""
    processes = ["gateway", "llm", "tts", "animator", "enhancer"]
    processes += [f"animator-{number}" for number in range(2, animators + 1)]
    ports = free_ports(2 * len(processes))
    stack = LocalStack(
        StackPorts(
            grpc=dict(zip(processes, ports[: len(processes)], strict=True)),
            metrics=dict(zip(processes, ports[len(processes) :], strict=True)),
        ),
        {"AVATAR_GATEWAY_AVATAR_DIR": str(work_dir / "avatars")},
        log_dir=work_dir / "logs",
    )
    try:
        stack.start()
        stack.wait_until_serving(timeout=300, progress=progress)
    except BaseException:
        stack.stop()
        raise
    return stack


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 right now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _counts(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--gateway", help="address of a running gateway, host:port")
    target.add_argument(
        "--start-stack", action="store_true", help="start the stack on free ports, then stop it"
    )
    parser.add_argument("--avatar", help="avatar id (default: create one from the sample face)")
    parser.add_argument(
        "--text",
        action="append",
        help="text to speak, repeatable (default: the short and the two-sentence demo text)",
    )
    parser.add_argument("--qualities", default="low,high", help="default %(default)s")
    parser.add_argument(
        "--streams", type=_counts, default=[1, 2, 4, 8, 16], help="default 1,2,4,8,16"
    )
    parser.add_argument("--iterations", type=int, default=2, help="counted calls per stream")
    parser.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="uncounted calls per stream first (with --start-stack at least one per animator)",
    )
    parser.add_argument(
        "--animators",
        type=int,
        default=default_animators(),
        help="with --start-stack: animator processes, as `avatar up` runs (default: the "
        "cores, %(default)s here)",
    )
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    return parser


async def _measure(args: argparse.Namespace, address: str, cpu: StackCpu | None) -> dict:
    avatar_id = args.avatar or await create_sample_avatar(address)
    floor = jpeg_floor_fps()
    texts = args.text or [SHORT_TEXT, TWO_SENTENCES]
    qualities = [quality.strip() for quality in args.qualities.split(",") if quality.strip()]
    before = machine()
    print(f"measuring on {describe_machine(before)}", flush=True)
    results = await sweep(
        address, avatar_id, texts, qualities, args.streams, args.iterations, args.warmup,
        progress=lambda line: print(line, flush=True), cpu=cpu,
    )  # fmt: skip
    cores = os.cpu_count() or 1
    for result in results:
        result["floor_share"] = result["aggregate_fps"] / (floor * cores)
    return {
        "benchmark": "latency",
        "method": "N concurrent streams, each: warm-up calls (not counted), then "
        "iterations calls one after the other; percentiles over every counted call",
        "settings": {"iterations": args.iterations, "warmup": args.warmup,
                     "streams": args.streams, "qualities": qualities, "texts": texts,
                     "animators": args.animators if args.start_stack else None},
        "machine": before,
        "jpeg_floor_fps_per_core": floor,
        "load_average_after": machine()["load_average"],
        "results": results,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Runs the sweep and writes JSON, Markdown and PNG."""
    args = build_parser().parse_args(argv)
    if args.iterations < 1 or args.warmup < 0 or not args.streams or args.animators < 1:
        print(
            "error: --iterations must be >= 1, --warmup >= 0, --streams non-empty, --animators >= 1"
        )
        return 2
    if args.start_stack:
        # Each animator process warms up on its own first call (its memory, its caches):
        # every one of them gets a warm-up call before any call is counted.
        args.warmup = max(args.warmup, args.animators)
    stack = None
    try:
        if args.start_stack:
            work_dir = Path(tempfile.mkdtemp(prefix="avatar-bench-"))
            stack = start_stack(work_dir, animators=args.animators)
        address = stack.gateway_address if stack else args.gateway
        cpu = StackCpu({name: p.pid for name, p in stack.processes.items()}) if stack else None
        data = asyncio.run(_measure(args, address, cpu))
    finally:
        if stack is not None:
            stack.stop()
    data["targets"] = latency_report.targets(data["results"])
    markdown = latency_report.markdown(data)
    paths = write_outputs(args.output_dir, "latency", data, markdown)
    paths["png"] = latency_report.plot(data, args.output_dir / "latency.png")
    print(markdown)
    print("wrote " + ", ".join(str(path) for path in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
