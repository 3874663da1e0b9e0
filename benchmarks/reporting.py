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
import threading
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


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _processes() -> dict[tuple[int, int], tuple[int, float]]:
    """Every process, as (pid, start time), with its parent and CPU seconds so far."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # Fields after the command name (which may hold spaces and parentheses).
        fields = text[text.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime
        found[(int(entry.name), int(fields[19]))] = (int(fields[1]), seconds)
    return found


def _descendants(found: dict[tuple[int, int], tuple[int, float]], root: int) -> set[int]:
    """The pids of ``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for (pid, _), (parent, _) in found.items():
        children.setdefault(parent, []).append(pid)
    below, pending = set(), [root]
    while pending:
        pid = pending.pop()
        below.add(pid)
        pending.extend(children.get(pid, []))
    return below


def _machine_seconds() -> tuple[float, float, float]:
    """CPU seconds the machine's cores have been busy, of that in interrupts, and
    seconds stolen from them by the hypervisor."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    busy = user + nice + system + irq + softirq
    return busy / _TICKS, (irq + softirq) / _TICKS, steal / _TICKS


class CpuUse:
    """Who kept the machine busy from now to :meth:`stop`: this process with every
    process it starts (a benchmark's stack, its browser), the other processes, the
    kernel's interrupts (the network's packets among them) and the hypervisor.

    Every process is read from ``/proc`` (Linux) each ``interval`` seconds in a thread
    of its own, and belongs to this benchmark when it was first seen below this process
    (a browser's helpers stay so when their parent exits first). What a process does in
    its last moments before it exits, or a process that lives less than ``interval``,
    goes uncounted (``unaccounted``). A run on a machine that other work shares is no
    measure of the product: the results say how much there was.
    """

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.started = time.monotonic()
        self.busy, self.interrupts, self.stolen = _machine_seconds()
        self._first: dict[tuple[int, int], float] = {}
        self._last: dict[tuple[int, int], float] = {}
        self._own: set[tuple[int, int]] = set()
        self._done = threading.Event()
        self._sample(initial=True)
        self._thread = threading.Thread(target=self._run, name="cpu-use", daemon=True)
        self._thread.start()

    def _sample(self, initial: bool = False) -> None:
        found = _processes()
        below = _descendants(found, os.getpid())
        for key, (_, seconds) in found.items():
            if key not in self._last:
                # Running at the start: only what it does from now on counts.
                self._first[key] = seconds if initial else 0.0
                if key[0] in below:
                    self._own.add(key)
            self._last[key] = seconds

    def _run(self) -> None:
        while not self._done.wait(self.interval):
            self._sample()

    def stop(self) -> dict[str, float]:
        """Cores kept busy on average since the start (``seconds`` long): ``own`` (this
        process and those below it), ``others`` (the other processes), ``interrupts``,
        ``unaccounted`` (busy, none of these) and ``stolen`` (by the hypervisor)."""
        self._done.set()
        self._thread.join()
        self._sample()
        seconds = max(time.monotonic() - self.started, 1e-9)
        used = {key: self._last[key] - self._first[key] for key in self._last}
        own = sum(value for key, value in used.items() if key in self._own)
        others = sum(value for key, value in used.items() if key not in self._own)
        busy, interrupts, stolen = _machine_seconds()
        interrupts -= self.interrupts
        rest = busy - self.busy - own - others - interrupts
        return {
            "seconds": seconds,
            "own": own / seconds,
            "others": others / seconds,
            "interrupts": interrupts / seconds,
            "unaccounted": max(rest, 0.0) / seconds,
            "stolen": (stolen - self.stolen) / seconds,
        }


def describe_cpu_use(use: dict[str, float], cores: int | None) -> str:
    """One line on how busy the machine was over a run (see :class:`CpuUse`)."""
    return (
        f"CPU over the run (cores of {cores}): the benchmark and what it started "
        f"{use['own']:.2f}, other processes {use['others']:.2f}, interrupts "
        f"{use.get('interrupts', 0.0):.2f}, unaccounted {use.get('unaccounted', 0.0):.2f}, "
        f"stolen {use['stolen']:.2f}"
    )


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
