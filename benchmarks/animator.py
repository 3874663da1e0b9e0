"""Animator speed on one CPU core: frames per second, render alone and render + JPEG.

The workload is what the service does for speech: an espeak-ng utterance (audio and
phoneme timings) animated on the sample photo with the default idle life (blinks,
gaze, head sway, emphasis nods), at 256, 512 and 1024 px. The process is pinned to
one core and OpenCV to one thread, so the numbers are per core. For each size it
reports the median and the best over ``--repeats`` runs (after a warm-up run) of:

* render: frames per second of ``AnimationSession`` alone (RGB frames out);
* render + encode: the same with every frame JPEG-encoded (quality 85), as the
  service sends them.

Both are given per wall-clock second and per second of CPU time the process got:
on a machine shared with other work the wall clock also counts time the core
spent on other processes, while CPU time counts only this work. Even CPU time
runs slow while another process shares the physical core (caches, a hyperthread
sibling), so on a busy machine the best run is the closer measure of the code.

Usage::

    python -m benchmarks.animator [--sizes 256,512,1024] [--repeats 5] [--core 0]
        [--photo sample_face.jpg | sample_face_closed.jpg]

Writes ``animator.json`` and ``animator.md`` to ``--output-dir`` (default
``benchmarks/results``). Targets: at 512 px, render >= 200 fps (issue 4) and
render + encode >= 150 fps (issue 13). ``--photo sample_face_closed.jpg`` times the
face whose teeth are drawn (the default sample shows its own).
"""

from __future__ import annotations

import os

# One core means one thread everywhere, set before numpy and OpenCV load.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from avatar_animator.engine import AnimationSession, MotionSettings  # noqa: E402
from avatar_animator.face import FacePreparer, PreparedFace  # noqa: E402
from avatar_core.images import encode_jpeg  # noqa: E402
from avatar_devtools.samples import sample_face  # noqa: E402
from avatar_tts.engines.espeak import EspeakEngine  # noqa: E402
from benchmarks.reporting import (  # noqa: E402
    describe_machine,
    machine,
    markdown_table,
    write_outputs,
)

TEXT = (
    "Hi, how are you today? The serene lake reflected the colors of the sunset "
    "like a painter's masterpiece."
)
FPS = 25.0
JPEG_QUALITY = 85
TARGET_SIZE = 512
TARGET_RENDER_FPS = 200.0
TARGET_ENCODED_FPS = 150.0


def pin_to_one_core(core: int) -> None:
    """Runs this process (and OpenCV) on one core only."""
    os.sched_setaffinity(0, {core})
    cv2.setNumThreads(1)


def speech() -> tuple[np.ndarray, list, int]:
    """The utterance: samples, phonemes and sample rate from espeak-ng."""
    engine = EspeakEngine()
    chunks = list(engine.synthesize(TEXT, "en-us"))
    samples = np.concatenate([chunk.samples for chunk in chunks])
    return samples, [p for chunk in chunks for p in chunk.phonemes], engine.sample_rate


def run_once(face: PreparedFace, audio: tuple, *, encode: bool) -> tuple[int, float, float]:
    """Animates the utterance once; returns (frames, wall seconds, CPU seconds)."""
    samples, phonemes, sample_rate = audio
    started, started_cpu = time.perf_counter(), time.process_time()
    session = AnimationSession(face, fps=FPS, sample_rate=sample_rate, motion=MotionSettings())
    session.push_phonemes(phonemes)
    session.push_audio(samples)
    frames = session.finish()
    if encode:
        for frame in frames:
            encode_jpeg(frame, JPEG_QUALITY)
    return len(frames), time.perf_counter() - started, time.process_time() - started_cpu


def measure(size: int, audio: tuple, repeats: int, photo_name: str = "sample_face.jpg") -> dict:
    """Render and render + encode frame rates at one frame size."""
    photo = sample_face(photo_name)
    face, _ = FacePreparer(output_width=size, output_height=size).prepare(photo)
    result = {"size": size}
    for name, encode in (("render", False), ("render_encode", True)):
        run_once(face, audio, encode=encode)  # warm-up: caches, allocator
        runs = [run_once(face, audio, encode=encode) for _ in range(repeats)]
        rates = [frames / seconds for frames, seconds, _ in runs]
        cpu_rates = [frames / cpu for frames, _, cpu in runs]
        result[name] = {
            "frames": runs[0][0],
            "fps_median": statistics.median(rates),
            "fps_runs": rates,
            "cpu_fps_median": statistics.median(cpu_rates),
            "cpu_fps_best": max(cpu_rates),
            "cpu_fps_runs": cpu_rates,
            "cpu_ms_per_frame": 1000.0 / statistics.median(cpu_rates),
        }
    return result


def report(results: list[dict], info: dict, audio_seconds: float, photo: str) -> str:
    """The Markdown table, the machine line and the target verdict."""
    rows = [
        (
            f"{r['size']} x {r['size']}",
            f"{r['render']['cpu_fps_median']:.0f}",
            f"{r['render']['cpu_ms_per_frame']:.2f}",
            f"{r['render_encode']['cpu_fps_median']:.0f}",
            f"{r['render_encode']['cpu_ms_per_frame']:.2f}",
            f"{r['render']['cpu_fps_best']:.0f} / {r['render_encode']['cpu_fps_best']:.0f}",
            f"{r['render']['fps_median']:.0f} / {r['render_encode']['fps_median']:.0f}",
        )
        for r in results
    ]
    header = [
        "frame",
        "render fps",
        "render ms/frame",
        "render + JPEG fps",
        "render + JPEG ms/frame",
        "best run fps (render / + JPEG)",
        "wall-clock fps (render / + JPEG)",
    ]
    lines = [
        markdown_table(header, rows),
        "",
        f"One core ({describe_machine(info)}); {audio_seconds:.1f} s of espeak-ng speech "
        f"on {photo} "
        f"at {FPS:g} fps, default idle motion, JPEG quality {JPEG_QUALITY}; median of runs "
        "unless marked best; fps per second of CPU time unless marked wall-clock.",
    ]
    target = next((r for r in results if r["size"] == TARGET_SIZE), None)
    if target is not None:
        render_ok = target["render"]["cpu_fps_median"] >= TARGET_RENDER_FPS
        encoded_ok = target["render_encode"]["cpu_fps_median"] >= TARGET_ENCODED_FPS
        lines.append(
            f"Target at {TARGET_SIZE} px: render >= {TARGET_RENDER_FPS:g} fps "
            f"({'met' if render_ok else 'NOT met'}), render + encode >= "
            f"{TARGET_ENCODED_FPS:g} fps ({'met' if encoded_ok else 'NOT met'})."
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Parses the options, measures every size and writes the outputs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,512,1024", help="frame sizes in pixels")
    parser.add_argument("--repeats", type=int, default=5, help="measured runs per size")
    parser.add_argument("--core", type=int, default=0, help="the CPU core to run on")
    parser.add_argument("--photo", default="sample_face.jpg", help="the bundled sample to animate")
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    pin_to_one_core(args.core)
    audio = speech()
    audio_seconds = len(audio[0]) / audio[2]
    before = machine()
    results = [
        measure(int(size), audio, args.repeats, args.photo) for size in args.sizes.split(",")
    ]
    info = machine()
    info["load_average_before"] = before["load_average"]
    info["core"] = args.core
    markdown = report(results, info, audio_seconds, args.photo)
    data = {
        "machine": info,
        "text": TEXT,
        "audio_seconds": audio_seconds,
        "fps": FPS,
        "jpeg_quality": JPEG_QUALITY,
        "repeats": args.repeats,
        "photo": args.photo,
        "results": results,
    }
    paths = write_outputs(args.output_dir, "animator", data, markdown)
    print(markdown)
    print(f"wrote {paths['json']} and {paths['markdown']}")


if __name__ == "__main__":
    main()
