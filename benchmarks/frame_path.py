"""One frame's whole path, step by step, in CPU microseconds per frame, next to the floor.

What every delivered frame costs, measured on one core in this process with the code the
services run (no network: each gRPC hop is the protobuf work both ends do, timed here,
plus a real loopback gRPC stream for the transport's own cost):

* ``render``: the default animator drawing the frame (``AnimationSession``);
* ``jpeg encode``: the animator's JPEG (quality 85), which is also **the floor**: a
  frame cannot be delivered for less than its own encoding;
* ``animator -> gateway``: the ``AnimateResponse`` batch (5 frames) serialised by the
  animator and parsed by the gateway;
* ``gateway -> client``: the frames re-stamped and wrapped in ``SpeakResponse`` by the
  gateway, serialised, and parsed by the client;
* ``grpc transport``: a loopback gRPC server streaming those responses to a client in
  this process (both ends' CPU), less the protobuf work already counted;
* high quality only: ``enhancer``: the batch to and from the enhancer (protobuf both
  ways), the JPEG decode, the enhancement of the moving regions (the gateway's enhance
  once, as it still runs with a restoration model) or of the whole frame (before), and
  the re-encode; ``animator touch-up per frame``: the same filter on each frame's moving
  regions inside the animator, before its one JPEG encode (its path when OpenCV enhanced
  the still and a lip-sync model draws the mouth; with the default renderer the still's
  regions are touched up once and the frames need nothing more: ``still touch-up, once``
  is that one-time cost, not per frame); and the animator's JPEG at high quality's 90
  over 85;
* ``mp4``: muxing the frame into an MP4 (H.264 + AAC), only when a client asks for one.

Each step runs over every frame of the demo utterance, ``--repeats`` times; cells are
the median CPU time per frame (``time.process_time``: on a shared machine it counts only
this work). The frame rate a core could sustain for the whole low-quality path is
1e6 / (sum of its steps); the floor's is 1e6 / (JPEG encode). cProfile of the render
step (top functions by own time) is written with ``--profile``.

Usage::

    python -m benchmarks.frame_path [--repeats 3] [--core 0] [--profile]

Writes ``frame_path.json`` and ``frame_path.md`` to ``--output-dir`` (default
``benchmarks/results``).
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import pstats  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import grpc  # noqa: E402
import numpy as np  # noqa: E402

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from avatar.animator.v1 import animator_pb2  # noqa: E402
from avatar.common.v1 import media_pb2  # noqa: E402
from avatar.enhancer.v1 import enhancer_pb2  # noqa: E402
from avatar.gateway.v1 import gateway_pb2  # noqa: E402
from avatar_animator.engine import AnimationSession, MotionSettings  # noqa: E402
from avatar_animator.face import FacePreparer  # noqa: E402
from avatar_core.frames import decode_frame, encode_frame  # noqa: E402
from avatar_core.touchup import RegionTouchup  # noqa: E402
from avatar_devtools.samples import sample_face  # noqa: E402
from avatar_enhancer.engine import EnhanceSettings, OpenCvEnhancer  # noqa: E402
from avatar_enhancer.regions import Region, RegionBlender  # noqa: E402
from avatar_gateway.appearance import moving_regions  # noqa: E402
from avatar_gateway.mux import write_mp4  # noqa: E402
from avatar_gateway.stages.enhancer import HIGH_QUALITY_JPEG  # noqa: E402
from benchmarks.animator import FPS, JPEG_QUALITY, TEXT, pin_to_one_core, speech  # noqa: E402
from benchmarks.reporting import describe_machine, machine, markdown_table, write_outputs  # noqa: E402

SIZE = 512
BATCH = 5
HIGH_JPEG_QUALITY = HIGH_QUALITY_JPEG  # the animator's frames in high quality, and the enhancer's


def _cpu_per_frame(step: Callable[[], int], repeats: int) -> float:
    """Median CPU microseconds per frame of ``step`` (which returns the frames it did)."""
    step()  # warm-up
    samples = []
    for _ in range(repeats):
        started = time.process_time()
        frames = step()
        samples.append((time.process_time() - started) / frames * 1e6)
    return statistics.median(samples)


def _touchup_per_frame(rgb: list[np.ndarray], touchup: RegionTouchup, repeats: int) -> float:
    """Median CPU microseconds per frame of the touch-up, in place on copies of the frames
    made beforehand (the animator touches up the frame it has just rendered)."""
    samples = []
    for _ in range(repeats + 1):  # the first is the warm-up
        frames = [image.copy() for image in rgb]
        started = time.process_time()
        for image in frames:
            touchup.apply(image)
        samples.append((time.process_time() - started) / len(frames) * 1e6)
    return statistics.median(samples[1:])


def _batches(frames: list[media_pb2.Frame]) -> list[list[media_pb2.Frame]]:
    return [frames[i : i + BATCH] for i in range(0, len(frames), BATCH)]


def measure(repeats: int, profile: bool) -> dict:
    """Every step's CPU time per frame, low and high quality."""
    face, _ = FacePreparer(output_width=SIZE, output_height=SIZE).prepare(sample_face())
    samples, phonemes, sample_rate = speech()

    def render() -> list[np.ndarray]:
        session = AnimationSession(face, fps=FPS, sample_rate=sample_rate, motion=MotionSettings())
        session.push_phonemes(phonemes)
        session.push_audio(samples)
        return session.finish()

    rgb = render()
    count = len(rgb)
    jpeg = [
        encode_frame(image, i, media_pb2.FRAME_ENCODING_JPEG, JPEG_QUALITY)
        for i, image in enumerate(rgb)
    ]
    animator_wire = [
        animator_pb2.AnimateResponse(
            sequence=i, frames=media_pb2.FrameBatch(frames=b, fps=FPS)
        ).SerializeToString()
        for i, b in enumerate(_batches(jpeg))
    ]
    steps: dict[str, float] = {}
    steps["render"] = _cpu_per_frame(lambda: len(render()), repeats)
    steps["jpeg encode (the floor)"] = _cpu_per_frame(
        lambda: len(
            [encode_frame(image, 0, media_pb2.FRAME_ENCODING_JPEG, JPEG_QUALITY) for image in rgb]
        ),
        repeats,
    )

    def animator_to_gateway() -> int:
        for i, batch in enumerate(_batches(jpeg)):
            wire = animator_pb2.AnimateResponse(
                sequence=i, frames=media_pb2.FrameBatch(frames=batch, fps=FPS)
            ).SerializeToString()
            animator_pb2.AnimateResponse.FromString(wire)
        return count

    steps["animator -> gateway (protobuf)"] = _cpu_per_frame(animator_to_gateway, repeats)

    def gateway_to_client() -> int:
        for sequence, wire in enumerate(animator_wire):
            response = animator_pb2.AnimateResponse.FromString(wire)
            for offset, frame in enumerate(response.frames.frames):
                frame.index = sequence * BATCH + offset
            event = gateway_pb2.SpeakResponse(sequence=sequence, frames=response.frames)
            gateway_pb2.SpeakResponse.FromString(event.SerializeToString())
        return count

    steps["gateway -> client (protobuf)"] = _cpu_per_frame(gateway_to_client, repeats)
    client_wire = [
        gateway_pb2.SpeakResponse(
            sequence=i, frames=animator_pb2.AnimateResponse.FromString(w).frames
        ).SerializeToString()
        for i, w in enumerate(animator_wire)
    ]

    def over_grpc() -> int:
        asyncio.run(_stream_over_grpc(client_wire))
        return count

    transport = _cpu_per_frame(over_grpc, repeats)
    steps["grpc transport (both ends)"] = max(
        0.0, transport - steps["gateway -> client (protobuf)"] / 2
    )

    # High quality: the enhancer's share per frame, whole frames (before) and regions (now).
    high_jpeg = [
        encode_frame(image, i, media_pb2.FRAME_ENCODING_JPEG, HIGH_JPEG_QUALITY)
        for i, image in enumerate(rgb)
    ]
    enhancer = OpenCvEnhancer()
    settings = EnhanceSettings()
    blender = RegionBlender(
        [Region(r.x, r.y, r.width, r.height) for r in moving_regions(face.landmarks, SIZE, SIZE)]
    )

    def enhance(by_regions: bool) -> int:
        for batch in _batches(high_jpeg):
            request = enhancer_pb2.EnhanceRequest(
                frames=media_pb2.FrameBatch(frames=batch, fps=FPS)
            )
            received = enhancer_pb2.EnhanceRequest.FromString(request.SerializeToString())
            out = []
            for frame in received.frames.frames:
                image = decode_frame(frame)
                if by_regions:
                    enhanced = blender.apply(
                        image, lambda crop, _: enhancer.enhance(crop, settings)
                    )
                else:
                    enhanced = enhancer.enhance(image, settings)
                out.append(
                    encode_frame(
                        enhanced, frame.index, media_pb2.FRAME_ENCODING_JPEG, HIGH_JPEG_QUALITY
                    )
                )
            response = enhancer_pb2.EnhanceResponse(
                frames=media_pb2.FrameBatch(frames=out, fps=FPS)
            )
            enhancer_pb2.EnhanceResponse.FromString(response.SerializeToString())
        return count

    steps["enhancer, whole frames (before)"] = _cpu_per_frame(lambda: enhance(False), repeats)
    steps["enhancer, moving regions (enhance once)"] = _cpu_per_frame(
        lambda: enhance(True), repeats
    )
    touchup = RegionTouchup(blender.regions, settings.fidelity)
    steps["animator touch-up per frame (high, opencv, a lip-sync model's mouth)"] = (
        _touchup_per_frame(rgb, touchup, repeats)
    )
    still = face.image.copy()
    started = time.process_time()
    touchup.apply(still)
    once = (time.process_time() - started) * 1e6
    steps["animator JPEG at q90 instead of q85 (high)"] = max(
        0.0,
        _cpu_per_frame(
            lambda: len(
                [
                    encode_frame(image, 0, media_pb2.FRAME_ENCODING_JPEG, HIGH_JPEG_QUALITY)
                    for image in rgb
                ]
            ),
            repeats,
        )
        - steps["jpeg encode (the floor)"],
    )
    audio = np.zeros(round(count * sample_rate / FPS), np.int16)
    steps["mp4 (when asked)"] = _cpu_per_frame(
        lambda: len(rgb) if write_mp4(audio, sample_rate, [f.data for f in jpeg], FPS) else 0, 1
    )
    result = {"frames": count, "size": SIZE, "steps_us": steps, "still_touchup_once_us": once}
    if profile:
        result["render_profile"] = _profile(render)
    return result


async def _stream_over_grpc(wire: list[bytes]) -> int:
    """Streams pre-serialised responses over loopback gRPC; returns the messages received."""

    async def handler(request, context):
        for message in wire:
            yield message

    server = grpc.aio.server()
    method = grpc.unary_stream_rpc_method_handler(
        handler, request_deserializer=lambda b: b, response_serializer=lambda b: b
    )
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("bench.Frames", {"Stream": method})]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_stream(
                "/bench.Frames/Stream",
                request_serializer=lambda b: b,
                response_deserializer=lambda b: b,
            )
            received = 0
            async for _ in call(b""):
                received += 1
            return received
    finally:
        await server.stop(None)


def _profile(render: Callable[[], list]) -> list[dict]:
    profiler = cProfile.Profile()
    profiler.enable()
    frames = len(render())
    profiler.disable()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    rows = []
    for (filename, line, name), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append(
            {
                "function": f"{Path(filename).name}:{line}({name})",
                "calls_per_frame": calls / frames,
                "own_us_per_frame": own / frames * 1e6,
                "cumulative_us_per_frame": cumulative / frames * 1e6,
            }
        )
    rows.sort(key=lambda row: row["own_us_per_frame"], reverse=True)
    return rows[:15]


LOW_STEPS = (
    "render",
    "jpeg encode (the floor)",
    "animator -> gateway (protobuf)",
    "gateway -> client (protobuf)",
    "grpc transport (both ends)",
)


def report(data: dict) -> str:
    """The Markdown tables."""
    steps = data["result"]["steps_us"]
    floor = steps["jpeg encode (the floor)"]
    low = sum(steps[name] for name in LOW_STEPS)
    high_jpeg = steps["animator JPEG at q90 instead of q85 (high)"]
    high_before = low + steps["enhancer, whole frames (before)"] + high_jpeg
    high_regions = low + steps["enhancer, moving regions (enhance once)"] + high_jpeg
    per_frame = steps["animator touch-up per frame (high, opencv, a lip-sync model's mouth)"]
    high_each = low + per_frame + high_jpeg
    high_now = low + high_jpeg
    lines = [
        "## One frame's path at 512 px, CPU microseconds per frame",
        "",
        describe_machine(data["machine"])
        + f" One core; {data['result']['frames']} frames of the demo utterance; "
        f"median of {data['repeats']} runs.",
        "",
        markdown_table(
            ["step", "us per frame", "share of the low path"],
            [
                [name, f"{value:.0f}", f"{value / low:.0%}" if name in LOW_STEPS else "-"]
                for name, value in steps.items()
            ],
        ),
        "",
        markdown_table(
            ["path", "us per frame", "frames per second per core", "x the floor"],
            [
                ["floor: JPEG encode alone", f"{floor:.0f}", f"{1e6 / floor:.0f}", "1.0"],
                ["low quality", f"{low:.0f}", f"{1e6 / low:.0f}", f"{low / floor:.1f}"],
                [
                    "high quality, whole frames (before)",
                    f"{high_before:.0f}",
                    f"{1e6 / high_before:.0f}",
                    f"{high_before / floor:.1f}",
                ],
                [
                    "high quality, enhance once, regions in the enhancer",
                    f"{high_regions:.0f}",
                    f"{1e6 / high_regions:.0f}",
                    f"{high_regions / floor:.1f}",
                ],
                [
                    "high quality, each frame touched up in the animator (lip-sync model)",
                    f"{high_each:.0f}",
                    f"{1e6 / high_each:.0f}",
                    f"{high_each / floor:.1f}",
                ],
                [
                    "high quality, the still touched up once (default renderer)",
                    f"{high_now:.0f}",
                    f"{1e6 / high_now:.0f}",
                    f"{high_now / floor:.1f}",
                ],
            ],
        ),
        "",
        f"High quality over low: {high_before / low:.2f}x whole frames, "
        f"{high_regions / low:.2f}x with the regions in the enhancer, "
        f"{high_each / low:.2f}x touching up each frame in the animator, "
        f"{high_now / low:.2f}x with the still touched up once "
        f"({data['result']['still_touchup_once_us'] / 1000:.1f} ms, once per avatar).",
    ]
    profile = data["result"].get("render_profile")
    if profile:
        lines += [
            "",
            "Render, top functions by own time (cProfile):",
            "",
            markdown_table(
                ["function", "calls per frame", "own us per frame", "cumulative us per frame"],
                [
                    [
                        row["function"],
                        f"{row['calls_per_frame']:.1f}",
                        f"{row['own_us_per_frame']:.0f}",
                        f"{row['cumulative_us_per_frame']:.0f}",
                    ]
                    for row in profile
                ],
            ),
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Parses the options, measures, writes and prints the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="measured runs per step")
    parser.add_argument("--core", type=int, default=0, help="the CPU core to run on")
    parser.add_argument("--profile", action="store_true", help="also profile the render step")
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    pin_to_one_core(args.core)
    cv2.setNumThreads(1)
    before = machine()
    result = measure(args.repeats, args.profile)
    info = machine()
    info["load_average_before"] = before["load_average"]
    data = {"machine": info, "text": TEXT, "repeats": args.repeats, "result": result}
    markdown = report(data)
    paths = write_outputs(args.output_dir, "frame_path", data, markdown)
    print(markdown)
    print(f"wrote {paths['json']} and {paths['markdown']}")


if __name__ == "__main__":
    main()
