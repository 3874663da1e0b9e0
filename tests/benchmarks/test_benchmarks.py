"""The benchmarks run end to end with tiny counts, so they cannot rot.

``benchmarks.latency`` runs against a running stack as a user would run it, and
``benchmarks.stages`` against the same stack's tts, animator and enhancer; their
JSON, Markdown and PNG outputs must exist and hold numbers that agree with each other.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from benchmarks.latency import start_stack

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TEXT = "Hi, how are you today?"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    running = start_stack(tmp_path_factory.mktemp("bench-stack"), progress=lambda _: None)
    try:
        yield running
    finally:
        running.stop()


def _run(module: str, *arguments: str) -> subprocess.CompletedProcess:
    completed = subprocess.run(
        [sys.executable, "-m", module, *arguments],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed


def _ordered(stats: dict) -> bool:
    return 0 <= stats["p50"] <= stats["p90"] <= stats["p99"]


def test_latency_benchmark_writes_consistent_json_markdown_and_png(stack, tmp_path):
    completed = _run(
        "benchmarks.latency", "--gateway", stack.gateway_address, "--text", TEXT,
        "--streams", "1,2", "--iterations", "1", "--warmup", "0",
        "--output-dir", str(tmp_path),
    )  # fmt: skip
    data = json.loads((tmp_path / "latency.json").read_text())
    assert data["machine"]["cores"] == os.cpu_count() and data["machine"]["cpu"]
    results = data["results"]
    assert [(r["quality"], r["streams"]) for r in results] == [
        ("low", 1), ("low", 2), ("high", 1), ("high", 2)
    ]  # fmt: skip
    for result in results:
        assert result["calls"] == result["streams"]
        audio, frames = result["audio_seconds"], result["frames"]
        assert 0.5 < audio < 5 and frames == math.ceil(audio * 25 - 1e-6)
        first_audio = result["time_to_first_audio_seconds"]
        first_frame = result["time_to_first_frame_seconds"]
        total = result["total_seconds"]
        for metric in ("time_to_first_audio_seconds", "time_to_first_frame_seconds",
                       "inter_chunk_gap_seconds", "total_seconds", "real_time_factor",
                       "delivered_fps"):  # fmt: skip
            assert _ordered(result[metric]), metric
        assert 0 < first_audio["p50"] <= first_frame["p50"] < total["p50"] < 60
        assert result["inter_chunk_gap_seconds"]["p99"] < total["p99"]
        if result["streams"] == 1:  # one call: every percentile is that call
            assert result["real_time_factor"]["p50"] == pytest.approx(total["p50"] / audio)
            assert result["delivered_fps"]["p50"] == pytest.approx(frames / total["p50"])
        assert 0 < result["aggregate_fps"] <= result["streams"] * result["delivered_fps"]["p99"]
    checks = {check["target"]: check for check in data["targets"]}
    assert checks["first frame at the client"]["measured"] == pytest.approx(
        results[0]["time_to_first_frame_seconds"]["p50"] * 1000
    )
    # Two streams cannot tell whether sixteen run faster than real time.
    assert checks["concurrent streams each faster than real time (low, every text)"]["met"] is None
    # Against a gateway it did not start, the benchmark cannot see the services' CPU.
    assert all("cost_per_stream" not in r and 0 < r["floor_share"] < 1 for r in results)

    markdown = (tmp_path / "latency.md").read_text()
    assert "| text | quality | streams |" in markdown
    assert markdown.count(f'| "{TEXT}" |') == 4
    assert data["machine"]["cpu"] in markdown and markdown in completed.stdout + "\n"
    with Image.open(tmp_path / "latency.png") as plot:
        assert plot.format == "PNG" and plot.width > 800 and plot.height > 500


def test_stage_benchmark_writes_json_and_markdown(stack, tmp_path):
    _run(
        "benchmarks.stages", "--tts", stack.address("tts"),
        "--animator", stack.address("animator"), "--enhancer", stack.address("enhancer"),
        "--batch-sizes", "4", "--repeats", "1", "--text", TEXT, "--output-dir", str(tmp_path),
    )  # fmt: skip
    data = json.loads((tmp_path / "stages.json").read_text())
    result = data["result"]
    assert result["text"] == TEXT and 0.5 < result["audio_seconds"] < 5
    (row,) = result["rows"]
    assert row["batch_size"] == 4
    for stage in ("low_animator", "enhancer", "high_animator_and_enhancer"):
        cell = row[stage]
        assert cell["frames"] == result["frames"] > 0, stage
        assert cell["fps"] == pytest.approx(cell["frames"] / cell["seconds"]) and cell["fps"] > 0
    markdown = (tmp_path / "stages.md").read_text()
    assert "| batch size | low: animator fps |" in markdown
    assert f"| 4 | {row['low_animator']['fps']:.1f} |" in markdown
