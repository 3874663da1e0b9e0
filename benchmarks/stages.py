"""Per-stage throughput against batch size: the shape of the thesis's table 6.1.

For each batch size (frames per message: 2, 4, 8, 16, 32 by default) it measures, over
real gRPC servers:

- **low**: the animator alone - ``Animate`` with that ``batch_size``, speech and
  phoneme timings from the tts service, frames per second until the last frame;
- **enhancer**: the enhancer alone - the same frames sent in batches of that size;
- **high**: the animator and the enhancer together, frame batches piped from one into
  the other as the gateway does for high quality.

Every figure is the median of ``--repeats`` runs after one warm-up of each stage.
Against running services (``--tts``, ``--animator``, ``--enhancer`` addresses) or
starting them as processes on free ports (``--start-services``)::

    python -m benchmarks.stages --start-services

Writes ``stages.json`` and ``stages.md`` to ``--output-dir`` (default
``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import grpc

from avatar.animator.v1 import animator_pb2, animator_pb2_grpc
from avatar.common.v1 import media_pb2
from avatar.enhancer.v1 import enhancer_pb2, enhancer_pb2_grpc
from avatar.tts.v1 import tts_pb2, tts_pb2_grpc
from avatar_devtools.samples import sample_face
from avatar_devtools.stack import LocalStack, StackPorts
from benchmarks.latency import TWO_SENTENCES, free_ports
from benchmarks.reporting import describe_machine, machine, markdown_table, write_outputs

SERVICES = ["tts", "animator", "enhancer"]
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
FPS = 25.0
# The gateway's JPEG qualities: 85 for low quality, 95 for frames the enhancer gets.
LOW_JPEG_QUALITY = 85
HIGH_JPEG_QUALITY = 95


@dataclass(slots=True)
class Speech:
    """One utterance from the tts service, ready to animate."""

    sample_rate: int
    audio: list[media_pb2.AudioChunk]
    timings: media_pb2.TimingTrack

    @property
    def seconds(self) -> float:
        """Its length."""
        return sum(len(chunk.pcm) for chunk in self.audio) / 2 / self.sample_rate


class StageClients:
    """Channels and stubs of the three services."""

    def __init__(self, tts: str, animator: str, enhancer: str) -> None:
        options = [
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ]
        self.channels = [
            grpc.aio.insecure_channel(address, options=options)
            for address in (tts, animator, enhancer)
        ]
        self.tts = tts_pb2_grpc.TtsServiceStub(self.channels[0])
        self.animator = animator_pb2_grpc.AnimatorServiceStub(self.channels[1])
        self.enhancer = enhancer_pb2_grpc.EnhancerServiceStub(self.channels[2])

    async def close(self) -> None:
        """Closes every channel."""
        for channel in self.channels:
            await channel.close()


async def synthesize(clients: StageClients, text: str) -> Speech:
    """Has the tts service speak ``text``."""
    speech = Speech(sample_rate=0, audio=[], timings=media_pb2.TimingTrack())
    async for event in clients.tts.Synthesize(tts_pb2.SynthesizeRequest(text=text), timeout=120):
        kind = event.WhichOneof("event")
        if kind == "started":
            speech.sample_rate = event.started.sample_rate
        elif kind == "audio":
            speech.audio.append(event.audio)
        elif kind == "timings":
            speech.timings.MergeFrom(event.timings)
    return speech


async def animate(
    clients: StageClients, photo: bytes, speech: Speech, batch_size: int, jpeg_quality: int
) -> AsyncIterator[media_pb2.FrameBatch]:
    """Streams the animator's frame batches for ``speech``."""
    config = animator_pb2.AnimateConfig(
        image=photo, fps=FPS, sample_rate=speech.sample_rate, batch_size=batch_size,
        encoding=media_pb2.FRAME_ENCODING_JPEG, jpeg_quality=jpeg_quality,
    )  # fmt: skip
    requests = [
        animator_pb2.AnimateRequest(config=config),
        animator_pb2.AnimateRequest(timings=speech.timings),
        *(animator_pb2.AnimateRequest(audio=chunk) for chunk in speech.audio),
        animator_pb2.AnimateRequest(end=animator_pb2.AnimateInputEnd()),
    ]
    async for response in clients.animator.Animate(iter(requests), timeout=300):
        if response.WhichOneof("event") == "frames":
            yield response.frames


async def enhance(clients: StageClients, batches: AsyncIterator[media_pb2.FrameBatch]) -> int:
    """Sends frame batches through the enhancer; returns the frames that came back."""

    async def requests() -> AsyncIterator[enhancer_pb2.EnhanceRequest]:
        yield enhancer_pb2.EnhanceRequest(
            config=enhancer_pb2.EnhanceConfig(encoding=media_pb2.FRAME_ENCODING_JPEG)
        )
        async for batch in batches:
            yield enhancer_pb2.EnhanceRequest(frames=batch)
        yield enhancer_pb2.EnhanceRequest(end=enhancer_pb2.EnhanceInputEnd())

    frames = 0
    async for response in clients.enhancer.Enhance(requests(), timeout=300):
        if response.WhichOneof("event") == "frames":
            frames += len(response.frames.frames)
    return frames


async def _batches_of(
    frames: list[media_pb2.Frame], size: int
) -> AsyncIterator[media_pb2.FrameBatch]:
    for start in range(0, len(frames), size):
        yield media_pb2.FrameBatch(frames=frames[start : start + size], fps=FPS)


async def time_low(
    clients: StageClients, photo: bytes, speech: Speech, batch: int
) -> tuple[float, int]:
    """Seconds and frames of one Animate call."""
    started = time.perf_counter()
    frames = sum(
        [len(b.frames) async for b in animate(clients, photo, speech, batch, LOW_JPEG_QUALITY)]
    )
    return time.perf_counter() - started, frames


async def time_enhancer(
    clients: StageClients, frames: list[media_pb2.Frame], batch: int
) -> tuple[float, int]:
    """Seconds and frames of one Enhance call over ready frames."""
    started = time.perf_counter()
    count = await enhance(clients, _batches_of(frames, batch))
    return time.perf_counter() - started, count


async def time_high(
    clients: StageClients, photo: bytes, speech: Speech, batch: int
) -> tuple[float, int]:
    """Seconds and frames of Animate piped into Enhance."""
    started = time.perf_counter()
    count = await enhance(clients, animate(clients, photo, speech, batch, HIGH_JPEG_QUALITY))
    return time.perf_counter() - started, count


async def _median(repeats: int, run) -> dict:
    timings = [await run() for _ in range(repeats)]
    seconds = statistics.median(seconds for seconds, _ in timings)
    frames = timings[0][1]
    return {"seconds": seconds, "frames": frames, "fps": frames / seconds if seconds else 0.0}


async def measure(
    clients: StageClients, text: str, batch_sizes: list[int], repeats: int, progress=print
) -> dict:
    """Every stage at every batch size."""
    photo = sample_face()
    speech = await synthesize(clients, text)
    # Warm-up: the animator prepares and caches the face, the enhancer its pipeline.
    ready = [
        f async for b in animate(clients, photo, speech, 5, HIGH_JPEG_QUALITY) for f in b.frames
    ]
    await enhance(clients, _batches_of(ready, 5))
    rows = []
    for batch in batch_sizes:
        row = {
            "batch_size": batch,
            "low_animator": await _median(
                repeats, lambda b=batch: time_low(clients, photo, speech, b)
            ),
            "enhancer": await _median(repeats, lambda b=batch: time_enhancer(clients, ready, b)),
            "high_animator_and_enhancer": await _median(
                repeats, lambda b=batch: time_high(clients, photo, speech, b)
            ),
        }
        rows.append(row)
        progress(
            f"batch {batch:3}: animator {row['low_animator']['fps']:6.1f} fps, enhancer "
            f"{row['enhancer']['fps']:6.1f} fps, animator+enhancer "
            f"{row['high_animator_and_enhancer']['fps']:6.1f} fps"
        )
    return {"text": text, "audio_seconds": speech.seconds, "frames": len(ready), "rows": rows}


def markdown(data: dict) -> str:
    """The table: one row per batch size, like the thesis's table 6.1."""
    result = data["result"]
    header = [
        "batch size", "low: animator fps", "low: clip s",
        "enhancer alone fps", "high: animator + enhancer fps", "high: clip s",
    ]  # fmt: skip
    rows = [
        [
            row["batch_size"],
            f"{row['low_animator']['fps']:.1f}",
            f"{row['low_animator']['seconds']:.2f}",
            f"{row['enhancer']['fps']:.1f}",
            f"{row['high_animator_and_enhancer']['fps']:.1f}",
            f"{row['high_animator_and_enhancer']['seconds']:.2f}",
        ]  # fmt: skip
        for row in result["rows"]
    ]
    return "\n\n".join(
        [
            "## Per-stage throughput against batch size",
            f'Measured on {describe_machine(data["machine"])}. Text: "{result["text"]}" '
            f"({result['audio_seconds']:.2f} s of speech, {result['frames']} frames at "
            f"{FPS:.0f} fps); median of {data['settings']['repeats']} run(s) per cell. "
            "*clip s*: seconds until the last frame of the clip.",
            markdown_table(header, rows),
        ]
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--start-services",
        action="store_true",
        help="start tts, animator and enhancer on free ports, then stop them",
    )
    for service in SERVICES:
        parser.add_argument(f"--{service}", help=f"address of a running {service} service")
    parser.add_argument("--batch-sizes", default="2,4,8,16,32", help="default %(default)s")
    parser.add_argument("--repeats", type=int, default=2, help="runs per cell (median)")
    parser.add_argument("--text", default=TWO_SENTENCES, help="what to speak")
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    return parser


def start_services(work_dir: Path) -> LocalStack:
    """Starts tts, animator and enhancer as processes on free ports."""
    ports = free_ports(2 * len(SERVICES))
    stack = LocalStack(
        StackPorts(grpc=dict(zip(SERVICES, ports[:3], strict=True)),
                   metrics=dict(zip(SERVICES, ports[3:], strict=True))),
        log_dir=work_dir / "logs",
    )  # fmt: skip
    try:
        stack.start(SERVICES)
        stack.wait_until_serving(timeout=300)
    except BaseException:
        stack.stop()
        raise
    return stack


async def _run(args: argparse.Namespace, addresses: dict[str, str], batch_sizes: list[int]) -> dict:
    clients = StageClients(addresses["tts"], addresses["animator"], addresses["enhancer"])
    try:
        before = machine()
        print(f"measuring on {describe_machine(before)}", flush=True)
        result = await measure(clients, args.text, batch_sizes, args.repeats,
                               progress=lambda line: print(line, flush=True))  # fmt: skip
    finally:
        await clients.close()
    return {
        "benchmark": "stages",
        "settings": {"batch_sizes": batch_sizes, "repeats": args.repeats, "fps": FPS},
        "machine": before,
        "load_average_after": machine()["load_average"],
        "result": result,
    }


def main(argv: list[str] | None = None) -> int:
    """Measures and writes JSON and Markdown."""
    args = build_parser().parse_args(argv)
    batch_sizes = [int(size) for size in args.batch_sizes.split(",") if size.strip()]
    given = {service: getattr(args, service) for service in SERVICES}
    if not args.start_services and not all(given.values()):
        print("error: give --tts, --animator and --enhancer addresses, or --start-services")
        return 2
    if args.repeats < 1 or not batch_sizes or min(batch_sizes) < 1:
        print("error: --repeats and every batch size must be >= 1")
        return 2
    stack = (
        start_services(Path(tempfile.mkdtemp(prefix="avatar-stages-")))
        if args.start_services
        else None
    )
    try:
        addresses = {s: stack.address(s) for s in SERVICES} if stack else given
        data = asyncio.run(_run(args, addresses, batch_sizes))
    finally:
        if stack is not None:
            stack.stop()
    text = markdown(data)
    paths = write_outputs(args.output_dir, "stages", data, text)
    print(text)
    print("wrote " + ", ".join(str(path) for path in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
