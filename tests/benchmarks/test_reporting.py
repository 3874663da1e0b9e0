"""What the benchmarks record of the machine: who kept its cores busy over a run."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from benchmarks.reporting import CpuUse, describe_cpu_use

# Burns ``seconds`` of CPU once the file ``go`` exists, writes ``done``, and lives on a
# moment (a process's last moments before it exits go uncounted).
BURNER = """
import os, sys, time
go, done, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
while not os.path.exists(go):
    time.sleep(0.01)
start = time.process_time()
while time.process_time() - start < seconds:
    pass
open(done, "w").close()
time.sleep(0.5)
"""


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + 30
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert path.exists()


def test_cpu_use_counts_what_the_benchmark_started_as_its_own(tmp_path):
    (tmp_path / "go").touch()
    use = CpuUse(interval=0.05)
    burner = subprocess.Popen(
        [sys.executable, "-c", BURNER, str(tmp_path / "go"), str(tmp_path / "done"), "0.4"]
    )
    _wait_for(tmp_path / "done")
    time.sleep(0.2)
    cores = use.stop()
    burner.wait()
    assert cores["own"] * cores["seconds"] >= 0.35
    assert cores["others"] * cores["seconds"] < 0.3
    assert min(cores.values()) >= 0
    line = describe_cpu_use(cores, 2)
    assert f"started {cores['own']:.2f}," in line and "(cores of 2)" in line


def test_cpu_use_counts_a_process_outside_the_benchmark_as_others(tmp_path):
    script = tmp_path / "burner.py"
    script.write_text(BURNER)
    # Started before the measure, by a parent that exits at once: the machine's init
    # adopts it, and it is nobody's below this process.
    starter = (
        "import subprocess, sys; subprocess.Popen([sys.executable, *sys.argv[1:]], "
        "start_new_session=True)"
    )
    subprocess.run(
        [sys.executable, "-c", starter, str(script), str(tmp_path / "go"),
         str(tmp_path / "done"), "0.4"],
        check=True,
    )  # fmt: skip
    use = CpuUse(interval=0.05)
    (tmp_path / "go").touch()
    _wait_for(tmp_path / "done")
    time.sleep(0.2)
    cores = use.stop()
    assert cores["others"] * cores["seconds"] >= 0.35
    assert cores["own"] * cores["seconds"] < 0.3
