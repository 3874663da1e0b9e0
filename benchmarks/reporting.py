"""What the benchmarks share: percentiles, the machine they ran on, and their outputs.

Every benchmark writes the same three things under one directory: a JSON file with
every number (and the machine, load and settings it was measured with), a Markdown
table for humans and the README, and (for the latency sweep) a PNG plot.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

PERCENTILES = (50, 90, 99)


def percentiles(values: Iterable[float]) -> dict[str, float]:
    """p50/p90/p99 (linear interpolation) of ``values``; zeros when there are none."""
    data = np.asarray(list(values), dtype=float)
    if data.size == 0:
        return {f"p{p}": 0.0 for p in PERCENTILES}
    return {f"p{p}": float(np.percentile(data, p)) for p in PERCENTILES}


def cpu_model() -> str:
    """The CPU's model name as ``lscpu`` reports it."""
    try:
        output = subprocess.run(
            ["lscpu"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return platform.processor() or "unknown CPU"
    for line in output.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def machine() -> dict:
    """The hardware and how busy it was, recorded next to every result."""
    load1, load5, load15 = os.getloadavg()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "gpu": None,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "load_average": {"1m": load1, "5m": load5, "15m": load15},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def describe_machine(info: dict) -> str:
    """One line naming the hardware and its load, for tables and the console."""
    load = info["load_average"]
    return (
        f"{info['cpu']}, {info['cores']} cores, no GPU; load average "
        f"{load['1m']:.2f} / {load['5m']:.2f} / {load['15m']:.2f} (1 / 5 / 15 min)"
    )


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_outputs(output_dir: Path, stem: str, data: dict, markdown: str) -> dict[str, Path]:
    """Writes ``<stem>.json`` and ``<stem>.md``; returns their paths."""
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": output_dir / f"{stem}.json", "markdown": output_dir / f"{stem}.md"}
    paths["json"].write_text(json.dumps(data, indent=2) + "\n")
    paths["markdown"].write_text(markdown + "\n")
    return paths
