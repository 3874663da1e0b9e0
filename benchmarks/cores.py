"""What the machine's cores give together: each frame step alone on one core, then on every
core at once.

A frame rate over all streams is the sum of what each core delivers while all of them are
busy, and that is not always the cores times what one core does alone: cores that share a
physical core (hyperthreads of the host), its caches or its memory slow each other down.
This runs the steps every delivered frame pays, on the demo utterance's frames at 512 px,
first in one process pinned to one core with the others idle, then in one process per core
at the same time, and compares CPU microseconds per frame:

* ``jpeg encode``: the animator's JPEG (quality 85), the floor of a delivered frame;
* ``head warp``: the full-frame affine warp of the head's motion (``cv2.warpAffine``),
  which every frame with head motion needs: the head moves every pixel;
* ``render + encode``: the default animator's whole frame (``AnimationSession``) and its
  JPEG, the animator's work per frame.

From the together figures it reports what all cores can deliver at most, per step:
``cores * 1e6 / (us per frame together)`` frames per second, and the CPU a frame may cost
for a given all-streams rate (``--target-fps``).

Usage::

    python -m benchmarks.cores [--seconds 3] [--target-fps 700]

Writes ``cores.json`` and ``cores.md`` to ``--output-dir`` (default ``benchmarks/results``).
Run it on a quiet machine: other work on the cores counts as their sharing.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import multiprocessing  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.reporting import describe_machine, machine, markdown_table, write_outputs  # noqa: E402

STEPS = ("jpeg encode", "head warp", "render + encode")
SIZE = 512


def _workload() -> dict[str, Callable[[int], None]]:
    """The steps, each a function of a frame number doing one frame's work."""
    import cv2

    from avatar_animator.engine import AnimationSession, MotionSettings
    from avatar_animator.face import FacePreparer
    from avatar_core.images import encode_jpeg
    from avatar_devtools.samples import sample_face
    from benchmarks.animator import FPS, JPEG_QUALITY, speech

    cv2.setNumThreads(1)
    face, _ = FacePreparer(output_width=SIZE, output_height=SIZE).prepare(sample_face())
    samples, phonemes, sample_rate = speech()
    poses = []
    render = face.warper.render

    def recorded(pose):
        poses.append(pose)
        return render(pose)

    face.warper.render = recorded  # type: ignore[method-assign]
    session = AnimationSession(face, fps=FPS, sample_rate=sample_rate, motion=MotionSettings())
    session.push_phonemes(phonemes)
    session.push_audio(samples)
    frames = session.finish()
    face.warper.render = render  # type: ignore[method-assign]
    matrices = [m for m in (face.warper.rig.head_matrix(p) for p in poses) if m is not None]
    if not matrices:
        raise RuntimeError("the demo utterance has no head motion to warp")

    def jpeg(number: int) -> None:
        encode_jpeg(frames[number % len(frames)], JPEG_QUALITY)

    def head(number: int) -> None:
        cv2.warpAffine(
            frames[number % len(frames)],
            matrices[number % len(matrices)],
            (SIZE, SIZE),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT101,
        )

    def whole(number: int) -> None:
        # The frame is encoded and dropped at once, as the service does.
        encode_jpeg(render(poses[number % len(poses)]), JPEG_QUALITY)

    return {"jpeg encode": jpeg, "head warp": head, "render + encode": whole}


def _measure(step: Callable[[int], None], seconds: float) -> float:
    """CPU microseconds per frame of ``step`` over about ``seconds`` of work."""
    for number in range(5):  # warm-up
        step(number)
    started = time.process_time()
    count = 0
    while time.process_time() - started < seconds:
        step(count)
        count += 1
    return (time.process_time() - started) / count * 1e6


def _worker(core: int, seconds: float, barrier, results) -> None:
    """Pinned to ``core``: waits at the barrier before each step, then measures it."""
    os.sched_setaffinity(0, {core})
    steps = _workload()
    for name in STEPS:
        barrier.wait()
        results[(core, name)] = _measure(steps[name], seconds)


def measure(seconds: float) -> dict:
    """Every step's CPU time per frame alone on core 0 and on all cores at once."""
    cores = sorted(os.sched_getaffinity(0))
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        alone = manager.dict()
        single = context.Barrier(1)  # held here until the process has it
        process = context.Process(target=_worker, args=(cores[0], seconds, single, alone))
        process.start()
        process.join()
        if process.exitcode or len(alone) < len(STEPS):
            raise RuntimeError("the measuring process failed")
        together = manager.dict()
        barrier = context.Barrier(len(cores))
        processes = [
            context.Process(target=_worker, args=(core, seconds, barrier, together))
            for core in cores
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        if any(process.exitcode for process in processes) or len(together) < len(STEPS):
            raise RuntimeError("a measuring process failed")
        rows = {}
        for name in STEPS:
            shared = [together[(core, name)] for core in cores]
            mean = sum(shared) / len(shared)
            rows[name] = {
                "alone_us": alone[(cores[0], name)],
                "together_us": mean,
                "slowdown": mean / alone[(cores[0], name)],
                "all_cores_fps": len(cores) * 1e6 / mean,
            }
    return {"cores": len(cores), "steps": rows}


def report(data: dict, target_fps: float) -> str:
    """The Markdown table and what it means for an all-streams rate of ``target_fps``."""
    result = data["result"]
    cores = result["cores"]
    steps = result["steps"]
    budget = cores * 1e6 / target_fps
    head_and_jpeg = steps["jpeg encode"]["together_us"] + steps["head warp"]["together_us"]
    lines = [
        "## What the cores give together, 512 px frames",
        "",
        describe_machine(data["machine"])
        + f" Each step ran about {data['seconds']:g} s of CPU time, alone on one core "
        f"(the others idle), then on all {cores} cores at once (one process each).",
        "",
        markdown_table(
            [
                "step",
                "us per frame alone",
                "us per frame, all cores busy",
                "slowdown",
                "all cores at most (fps)",
            ],
            [
                [
                    name,
                    f"{row['alone_us']:.0f}",
                    f"{row['together_us']:.0f}",
                    f"{row['slowdown']:.2f}x",
                    f"{row['all_cores_fps']:.0f}",
                ]
                for name, row in steps.items()
            ],
        ),
        "",
        f"{target_fps:g} frames per second over all streams leave each frame {budget:.0f} us "
        f"of CPU with all {cores} cores busy, for everything (render, encode, the TTS, the "
        f"gateway and the client). A JPEG encode and the head's warp alone take "
        f"{head_and_jpeg:.0f} us then ({head_and_jpeg / budget:.0%} of it).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Parses the options, measures, writes and prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="CPU seconds per step")
    parser.add_argument(
        "--target-fps", type=float, default=700.0, help="all-streams frame rate to judge"
    )
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    before = machine()
    result = measure(args.seconds)
    info = machine()
    info["load_average_before"] = before["load_average"]
    data = {"machine": info, "seconds": args.seconds, "target_fps": args.target_fps}
    data["result"] = result
    markdown = report(data, args.target_fps)
    paths = write_outputs(args.output_dir, "cores", data, markdown)
    print(markdown)
    print(f"wrote {paths['json']} and {paths['markdown']}")


if __name__ == "__main__":
    main()
