"""Lip-sync speed at 512 px: frames per second of the animator's ``onnx`` lip-sync backend.

No lip-sync weights can be downloaded here, but a network's cost does not depend on its
weights. :class:`Wav2Lip96` is our own PyTorch module with the layers of the published
Wav2Lip generator (a 7-level face encoder of 3x3 residual convolution blocks from 96 px
to 1 px, a 5-level audio encoder of the 80 x 16 mel window, and a 7-level decoder of
transposed convolutions that takes the encoder's features at every level; batch norm
and ReLU after every convolution; a sigmoid output), random weights, exported in the
layout users bring (``source`` [b,1,80,16], ``target`` [b,6,96,96] -> [b,3,96,96]). Its
multiply-accumulates are counted by PyTorch's FLOP counter, its parameters from the
ONNX file.

Measured, on the sample photo at 512 px with the default idle life, speech-like audio
at 24 kHz pushed in 0.2 s chunks as the gateway sends it:

* ``default``: the default renderer (``AnimationSession``), for comparison;
* ``onnx``: the lip-sync backend (``LipSyncSession``): the rig with the mouth at rest,
  the crop, the mel windows, the model on every batch, the paste;
* the model alone, per frame, at batch 1 and at the stream's batch of 5.

Each figure is the median of ``--repeats`` runs after a warm-up. ONNX Runtime runs with
``--threads`` intra-op threads on ``--device`` (``auto``: CUDA when present). Usage::

    python -m benchmarks.lipsync [--seconds 4] [--repeats 3] [--threads 0] [--device auto]

Writes ``lipsync.json`` and ``lipsync.md`` to ``--output-dir`` (default
``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import nn

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from avatar_animator.engine import AnimationSession, MotionSettings  # noqa: E402
from avatar_animator.face import FacePreparer  # noqa: E402
from avatar_animator.lipsync import LipSyncRenderer  # noqa: E402
from avatar_animator.lipsync_model import LipSyncModel  # noqa: E402
from benchmarks.reporting import machine, markdown_table, write_outputs  # noqa: E402

RATE = 24_000
CHUNK_SECONDS = 0.2


class ConvBlock(nn.Module):
    """Convolution, batch norm, ReLU; with ``residual`` the input is added before the ReLU."""

    def __init__(self, inputs, outputs, kernel, stride, padding, residual=False, transposed=False):
        super().__init__()
        if transposed:
            self.conv = nn.ConvTranspose2d(
                inputs, outputs, kernel, stride, padding, output_padding=stride - 1
            )
        else:
            self.conv = nn.Conv2d(inputs, outputs, kernel, stride, padding)
        self.norm = nn.BatchNorm2d(outputs)
        self.residual = residual

    def forward(self, x):
        out = self.norm(self.conv(x))
        return torch.relu(out + x if self.residual else out)


def _level(first: ConvBlock, channels: int, residuals: int) -> nn.Sequential:
    """A first block followed by ``residuals`` residual 3x3 blocks of ``channels``."""
    rest = [ConvBlock(channels, channels, 3, 1, 1, residual=True) for _ in range(residuals)]
    return nn.Sequential(first, *rest)


class Wav2Lip96(nn.Module):
    """The Wav2Lip generator's layers at 96 px (random weights)."""

    def __init__(self) -> None:
        super().__init__()
        self.face_encoder = nn.ModuleList(
            [
                nn.Sequential(ConvBlock(6, 16, 7, 1, 3)),  # 96
                _level(ConvBlock(16, 32, 3, 2, 1), 32, 2),  # 48
                _level(ConvBlock(32, 64, 3, 2, 1), 64, 3),  # 24
                _level(ConvBlock(64, 128, 3, 2, 1), 128, 2),  # 12
                _level(ConvBlock(128, 256, 3, 2, 1), 256, 2),  # 6
                _level(ConvBlock(256, 512, 3, 2, 1), 512, 1),  # 3
                nn.Sequential(ConvBlock(512, 512, 3, 1, 0), ConvBlock(512, 512, 1, 1, 0)),  # 1
            ]
        )
        self.audio_encoder = nn.Sequential(
            _level(ConvBlock(1, 32, 3, 1, 1), 32, 2),  # 80 x 16
            _level(ConvBlock(32, 64, 3, (3, 1), 1), 64, 2),  # 27 x 16
            _level(ConvBlock(64, 128, 3, 3, 1), 128, 2),  # 9 x 6
            _level(ConvBlock(128, 256, 3, (3, 2), 1), 256, 1),  # 3 x 3
            ConvBlock(256, 512, 3, 1, 0),  # 1 x 1
            ConvBlock(512, 512, 1, 1, 0),
        )
        self.face_decoder = nn.ModuleList(
            [
                nn.Sequential(ConvBlock(512, 512, 1, 1, 0)),  # 1
                _level(ConvBlock(1024, 512, 3, 1, 0, transposed=True), 512, 1),  # 3
                _level(ConvBlock(1024, 512, 3, 2, 1, transposed=True), 512, 2),  # 6
                _level(ConvBlock(768, 384, 3, 2, 1, transposed=True), 384, 2),  # 12
                _level(ConvBlock(512, 256, 3, 2, 1, transposed=True), 256, 2),  # 24
                _level(ConvBlock(320, 128, 3, 2, 1, transposed=True), 128, 2),  # 48
                _level(ConvBlock(160, 64, 3, 2, 1, transposed=True), 64, 2),  # 96
            ]
        )
        self.output = nn.Sequential(
            ConvBlock(80, 32, 3, 1, 1), nn.Conv2d(32, 3, 1, 1, 0), nn.Sigmoid()
        )

    def forward(self, source, target):
        features = []
        x = target
        for block in self.face_encoder:
            x = block(x)
            features.append(x)
        x = self.audio_encoder(source)
        for block in self.face_decoder:
            x = torch.cat([block(x), features.pop()], dim=1)
        return self.output(x)


def export(path: Path, seed: int = 0) -> dict[str, float]:
    """Builds :class:`Wav2Lip96` with random weights and writes it as ONNX, batch dynamic.

    Returns:
        ``gmacs`` (multiply-accumulates of one frame) and ``parameters_millions``.
    """
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(seed)
    model = Wav2Lip96().eval()
    arguments = (torch.zeros(1, 1, 80, 16), torch.zeros(1, 6, 96, 96))
    with torch.no_grad():
        counter = FlopCounterMode(display=False)
        with counter:
            output = model(*arguments)
        assert output.shape == (1, 3, 96, 96), output.shape
        torch.onnx.export(
            model, arguments, str(path), input_names=["source", "target"],
            output_names=["output"], opset_version=17, dynamo=False,
            dynamic_axes={"source": {0: "batch"}, "target": {0: "batch"}, "output": {0: "batch"}},
        )  # fmt: skip
    parameters = sum(p.numel() for p in model.parameters()) / 1e6
    return {"gmacs": counter.get_total_flops() / 2e9, "parameters_millions": parameters}


def speech(seconds: float) -> np.ndarray:
    """Syllable-like bursts of a voiced tone, four per second, 24 kHz int16."""
    times = np.arange(round(seconds * RATE)) / RATE
    envelope = np.clip(np.sin(2 * np.pi * 4 * times), 0, None)
    voice = np.sin(2 * np.pi * 180 * times) + 0.4 * np.sin(2 * np.pi * 900 * times)
    return np.round(9000 * envelope * voice).astype(np.int16)


def _stream_seconds(make_session, audio: np.ndarray) -> tuple[float, float, int]:
    """Wall and CPU seconds to animate ``audio`` pushed in chunks, and the frames made."""
    session = make_session()
    chunk = round(CHUNK_SECONDS * RATE)
    started, started_cpu = time.perf_counter(), time.process_time()
    frames = 0
    for start in range(0, len(audio), chunk):
        session.push_audio(audio[start : start + chunk])
        frames += len(session.render_ready())
    frames += len(session.finish())
    return time.perf_counter() - started, time.process_time() - started_cpu, frames


def _median_run(make_session, audio, repeats) -> dict:
    _stream_seconds(make_session, audio[: RATE // 2])  # warm-up
    runs = [_stream_seconds(make_session, audio) for _ in range(repeats)]
    wall = statistics.median(run[0] for run in runs)
    cpu = statistics.median(run[1] for run in runs)
    frames = runs[0][2]
    return {"frames": frames, "fps": frames / wall, "cpu_ms_per_frame": 1e3 * cpu / frames}


def _model_ms_per_frame(model: LipSyncModel, batch: int, repeats: int) -> dict[str, float]:
    """Median wall (``ms``) and CPU (``cpu_ms``) milliseconds per frame of the model alone."""
    mels = np.zeros((batch, 1, 80, 16), np.float32)
    faces = np.full((batch, 6, 96, 96), 0.5, np.float32)
    model.run(mels, faces)
    wall, cpu = [], []
    for _ in range(max(3, repeats)):
        started, started_cpu = time.perf_counter(), time.process_time()
        model.run(mels, faces)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return {
        "ms": 1e3 * statistics.median(wall) / batch,
        "cpu_ms": 1e3 * statistics.median(cpu) / batch,
    }


def measure(args) -> dict:
    """Every figure of the table."""
    path = args.model_dir / "wav2lip_96_random.onnx"
    args.model_dir.mkdir(parents=True, exist_ok=True)
    cost = export(path)
    model = LipSyncModel(path, threads=args.threads, device=args.device)
    renderer = LipSyncRenderer(model)
    photo = (resources.files("avatar_devtools") / "assets" / "sample_face.jpg").read_bytes()
    face, _ = FacePreparer(output_width=512, output_height=512).prepare(photo)
    audio = speech(args.seconds)
    motion = MotionSettings(seed=1)
    options = {"fps": 25.0, "sample_rate": RATE, "motion": motion}
    return {
        **cost,
        "file_megabytes": path.stat().st_size / 1e6,
        "provider": model.provider,
        "default": _median_run(lambda: AnimationSession(face, **options), audio, args.repeats),
        "onnx": _median_run(lambda: renderer.session(face, **options), audio, args.repeats),
        "model_batch_1": _model_ms_per_frame(model, 1, args.repeats),
        "model_batch_5": _model_ms_per_frame(model, 5, args.repeats),
    }


def _wall_and_cpu(figures: dict) -> str:
    return f"{figures['ms']:.1f} ms (CPU {figures['cpu_ms']:.1f} ms)"


def report(result: dict, info: dict, threads: int) -> str:
    """The Markdown table with the machine line."""
    device = result["provider"].removesuffix("ExecutionProvider")
    rows = [
        ["default renderer", "-", f"{result['default']['fps']:.0f}",
         f"{result['default']['cpu_ms_per_frame']:.1f} ms", "-", "-"],
        [f"onnx: Wav2Lip 96 ({result['gmacs']:.2f} GMACs, "
         f"{result['parameters_millions']:.1f} M parameters)", device,
         f"{result['onnx']['fps']:.1f}", f"{result['onnx']['cpu_ms_per_frame']:.1f} ms",
         _wall_and_cpu(result["model_batch_1"]), _wall_and_cpu(result["model_batch_5"])],
    ]  # fmt: skip
    load = info["load_average"]
    header = ["backend", "device", "fps", "CPU per frame", "model alone, batch 1",
              "model alone, batch 5 (per frame)"]  # fmt: skip
    return "\n".join(
        [
            markdown_table(header, rows),
            "",
            f"512 px frames of the sample photo, 25 fps, speech-like audio at 24 kHz in 0.2 s "
            f"chunks; {info['cpu']}, {info['cores']} cores, ONNX Runtime intra-op threads: "
            f"{threads or 'its default'}; load average {load['1m']:.2f} / {load['5m']:.2f} / "
            f"{load['15m']:.2f}. Model: random weights, the Wav2Lip generator's layers "
            "(benchmarks/lipsync.py). fps: wall clock (a busy machine slows it); CPU per "
            "frame: CPU time of every thread.",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    """Parses the options, measures and writes the outputs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="audio per measured run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    default_models = Path(tempfile.gettempdir()) / "avatar-lipsync-benchmark-models"
    parser.add_argument("--model-dir", type=Path, default=default_models)
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    before = machine()
    result = measure(args)
    info = machine()
    info["load_average_before"] = before["load_average"]
    markdown = report(result, info, args.threads)
    data = {"machine": info, "seconds": args.seconds, "threads": args.threads, "result": result}
    paths = write_outputs(args.output_dir, "lipsync", data, markdown)
    print(markdown)
    print(f"wrote {paths['json']} and {paths['markdown']}")


if __name__ == "__main__":
    main()
