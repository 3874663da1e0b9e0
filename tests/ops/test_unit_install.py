"""One unit installs alone: the enhancer with only the stubs and the shared package.

What its image does, without a container engine: a fresh virtual environment gets
``protos/``, ``core/`` and ``services/enhancer/`` (not editable), pulls in nothing of the
other units or their heavy libraries, and serves: the standard health check answers
SERVING, and SIGTERM stops it with exit code 0.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.network import free_ports
from tests.support.tools import ROOT

FOLDERS = ("protos", "core", "services/enhancer")
NOT_EXPECTED = {
    "torch",
    "dlib",
    "dlib-bin",
    "openai",
    "coqui-tts",
    "avatar-tts",
    "avatar-animator",
    "avatar-llm",
    "avatar-gateway",
    "avatar-devtools",
}


def _copy_units(destination: Path) -> list[Path]:
    """Copies the three folders without build output, so nothing lands in the repository."""
    ignored = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", "*.pyc")
    copies = []
    for folder in FOLDERS:
        copy = destination / folder
        shutil.copytree(ROOT / folder, copy, ignore=ignored)
        copies.append(copy)
    return copies


def _clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without anything that would reach the repository's venv."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    }
    return {**environment, **extra}


@pytest.fixture(scope="module")
def enhancer_venv(tmp_path_factory) -> Path:
    """A fresh virtual environment with the enhancer installed from copies of its folders."""
    root = tmp_path_factory.mktemp("unit")
    copies = _copy_units(root / "src")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *map(str, copies)],
        capture_output=True,
        text=True,
        timeout=1500,
        env=_clean_environment(),
        cwd=root,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return venv


def _distributions(venv: Path) -> set[str]:
    listed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return {entry["name"].lower().replace("_", "-") for entry in json.loads(listed.stdout)}


def _health(port: int) -> int | None:
    """The server's overall health, or None while it does not answer."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            return (
                health_pb2_grpc.HealthStub(channel)
                .Check(health_pb2.HealthCheckRequest(), timeout=2)
                .status
            )
        except grpc.RpcError:
            return None


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_enhancer_installs_alone_and_serves(enhancer_venv, tmp_path):
    distributions = _distributions(enhancer_venv)
    assert {"avatar-protos", "avatar-core", "avatar-enhancer"} <= distributions
    assert not distributions & NOT_EXPECTED, sorted(distributions & NOT_EXPECTED)
    assert not any(name.startswith("coqui") for name in distributions), sorted(distributions)

    python = str(enhancer_venv / "bin" / "python")
    located = subprocess.run(
        [python, "-c", "import avatar_enhancer; print(avatar_enhancer.__file__)"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=_clean_environment(),
        check=True,
    )
    # Installed into the venv, not linked back to the repository.
    assert Path(located.stdout.strip()).is_relative_to(enhancer_venv), located.stdout

    port, metrics_port = free_ports(2)
    environment = _clean_environment(
        AVATAR_ENHANCER_HOST="127.0.0.1",
        AVATAR_ENHANCER_PORT=str(port),
        AVATAR_ENHANCER_METRICS_PORT=str(metrics_port),
    )
    process = subprocess.Popen(
        [python, "-m", "avatar_enhancer"],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while _health(port) != health_pb2.HealthCheckResponse.SERVING:
            assert process.poll() is None, process.stdout.read().decode()
            assert time.monotonic() < deadline, "the enhancer did not become SERVING"
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, process.stdout.read().decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
