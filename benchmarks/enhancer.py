"""Enhancer speed at 512 px: frames per second of each backend, real-size models.

Backends measured on 512 x 512 frames of the sample portrait (shifted a pixel per frame,
as a head that moves), through the engine the service runs (no gRPC):

* ``opencv``: the whole-frame filter.
* ``onnx`` with each architecture of ``benchmarks/enhancer_models.py`` (GFPGAN v1.4,
  GPEN-BFR-512, CodeFormer, RestoreFormer at 512 px, random weights, exported in the
  layout users bring): find the face, align, restore, paste back. The model alone is
  timed too, and each row states the network's multiply-accumulates and parameters.

Each cell is the median over ``--frames`` frames after one warm-up frame. ONNX Runtime
runs with ``--threads`` intra-op threads on ``--device`` (``auto``: CUDA when this
ONNX Runtime has it). Usage::

    python -m benchmarks.enhancer [--models gfpgan,gpen,codeformer,restoreformer]
        [--frames 5] [--threads 0] [--device auto] [--model-dir DIR]

The exported models (280-380 MB each) are kept in ``--model-dir`` (default: a folder
under the system's temporary directory) and reused. Writes ``enhancer.json`` and
``enhancer.md`` to ``--output-dir`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from avatar_devtools.samples import sample_face  # noqa: E402
from avatar_enhancer.engine import EnhanceSettings, OpenCvEnhancer  # noqa: E402
from avatar_enhancer.faces import FaceLocator  # noqa: E402
from avatar_enhancer.restoration_model import RestorationModel  # noqa: E402
from avatar_enhancer.restorer import OnnxRestorer  # noqa: E402
from benchmarks.reporting import machine, markdown_table, write_outputs  # noqa: E402

SIZE = 512
NAMES = {
    "gfpgan": "GFPGAN v1.4",
    "gpen": "GPEN-BFR-512",
    "codeformer": "CodeFormer",
    "restoreformer": "RestoreFormer",
}


def frames(count: int) -> list[np.ndarray]:
    """``count`` 512 px frames of the sample portrait, each shifted one more pixel."""
    bgr = cv2.imdecode(np.frombuffer(sample_face(), np.uint8), cv2.IMREAD_COLOR)
    portrait = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (SIZE, SIZE))
    return [np.roll(portrait, shift=(i, i), axis=(0, 1)) for i in range(count)]


def _median_seconds(work, inputs) -> tuple[float, float]:
    """Median wall-clock and CPU seconds (all threads) of ``work`` per input, after one."""
    work(inputs[0])  # warm-up: first-run allocations, CUDA kernels
    wall, cpu = [], []
    for item in inputs[1:]:
        started, started_cpu = time.perf_counter(), time.process_time()
        work(item)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return statistics.median(wall), statistics.median(cpu)


def measure_opencv(count: int) -> dict:
    """The OpenCV backend's seconds per 512 px frame."""
    enhancer, settings = OpenCvEnhancer(), EnhanceSettings()
    wall, cpu = _median_seconds(lambda frame: enhancer.enhance(frame, settings), frames(count + 1))
    return {
        "backend": "opencv",
        "model": None,
        "seconds_per_frame": wall,
        "cpu_seconds_per_frame": cpu,
    }


def model_file(name: str, directory: Path) -> tuple[Path, dict]:
    """The exported model and its cost, exported now unless already in ``directory``."""
    path, cost_path = directory / f"{name}_512.onnx", directory / f"{name}_512.cost.json"
    if not (path.exists() and cost_path.exists()):
        from benchmarks.enhancer_models import export

        directory.mkdir(parents=True, exist_ok=True)
        cost_path.write_text(json.dumps(export(name, path)))
    return path, json.loads(cost_path.read_text())


def measure_model(name: str, directory: Path, count: int, threads: int, device: str) -> dict:
    """Seconds per frame of the onnx backend (face found, restored, pasted) and of the model."""
    path, cost = model_file(name, directory)
    started = time.perf_counter()
    model = RestorationModel(path, threads=threads, device=device)
    load_seconds = time.perf_counter() - started
    restorer, locator, settings = OnnxRestorer(model), FaceLocator(), EnhanceSettings()
    inputs = frames(count + 1)

    def backend(frame):
        return restorer.enhance(frame, settings, locator.locate(frame))

    crop = np.zeros((model.layout.size, model.layout.size, 3), np.uint8)
    wall, cpu = _median_seconds(backend, inputs)
    model_wall, _ = _median_seconds(lambda _: model.restore(crop, 0.7), inputs)
    return {
        "backend": "onnx",
        "model": name,
        "architecture": NAMES[name],
        "provider": model.provider,
        "gmacs": cost["gmacs"],
        "parameters_millions": cost["parameters_millions"],
        "file_megabytes": path.stat().st_size / 1e6,
        "load_seconds": load_seconds,
        "seconds_per_frame": wall,
        "cpu_seconds_per_frame": cpu,
        "model_seconds": model_wall,
    }


def report(results: list[dict], info: dict, threads: int) -> str:
    """The Markdown table with the machine line."""
    rows = []
    for result in results:
        fps = 1.0 / result["seconds_per_frame"]
        if result["model"] is None:
            per_frame = f"{result['seconds_per_frame'] * 1e3:.1f} ms"
            cpu = f"{result['cpu_seconds_per_frame'] * 1e3:.1f} ms"
            rows.append(["opencv", "-", "-", "-", f"{fps:.1f}", per_frame, cpu, "-"])
            continue
        rows.append([
            f"onnx: {result['architecture']}", result["provider"].removesuffix("ExecutionProvider"),
            f"{result['gmacs']:.0f}", f"{result['parameters_millions']:.1f} M",
            f"{fps:.2f}", f"{result['seconds_per_frame'] * 1e3:.0f} ms",
            f"{result['cpu_seconds_per_frame']:.1f} s", f"{result['model_seconds'] * 1e3:.0f} ms",
        ])  # fmt: skip
    load = info["load_average"]
    header = ["backend", "device", "GMACs", "parameters", "fps", "per frame", "CPU per frame",
              "model alone"]  # fmt: skip
    return "\n".join(
        [
            markdown_table(header, rows),
            "",
            f"512 px frames, {info['cpu']}, {info['cores']} cores, ONNX Runtime intra-op "
            f"threads: {threads or 'its default'}; load average {load['1m']:.2f} / "
            f"{load['5m']:.2f} / {load['15m']:.2f}. Models: random weights, the real "
            "architectures' layers (benchmarks/enhancer_models.py). fps and per frame: "
            "wall clock (a busy machine slows them); CPU per frame: CPU time of every "
            "thread, which the load does not inflate.",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    """Parses the options, measures every backend and writes the outputs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="gfpgan,gpen,codeformer,restoreformer")
    parser.add_argument("--frames", type=int, default=5, help="measured frames per backend")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    default_models = Path(tempfile.gettempdir()) / "avatar-enhancer-benchmark-models"
    parser.add_argument("--model-dir", type=Path, default=default_models)
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    names = [name for name in args.models.split(",") if name]
    unknown = set(names) - NAMES.keys()
    if unknown:
        parser.error(f"unknown models {sorted(unknown)}; choose from {', '.join(NAMES)}")
    before = machine()
    results = [measure_opencv(max(args.frames, 10))]
    for name in names:
        results.append(measure_model(name, args.model_dir, args.frames, args.threads, args.device))
        print(f"{name}: {1 / results[-1]['seconds_per_frame']:.2f} fps", flush=True)
    info = machine()
    info["load_average_before"] = before["load_average"]
    markdown = report(results, info, args.threads)
    data = {"machine": info, "frames": args.frames, "threads": args.threads, "results": results}
    paths = write_outputs(args.output_dir, "enhancer", data, markdown)
    print(markdown)
    print(f"wrote {paths['json']} and {paths['markdown']}")


if __name__ == "__main__":
    main()
