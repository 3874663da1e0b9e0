"""External tools the operations tests run, installed on demand, never skipped.

Each tool comes from where ``make setup-dev`` gets it: Debian packages through
``tools/install-system-packages.sh``, kustomize through ``tools/install-kustomize.sh``,
Python tools from the ``dev`` extra into the virtual environment. When a tool is missing
the installer runs once; when it still is, the test fails and says how to install it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def _run_installer(script: str, *args: str) -> str:
    result = subprocess.run(
        ["bash", str(ROOT / "tools" / script), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return (result.stdout + result.stderr).strip()


def system_tool(name: str) -> str:
    """Path of a program from a Debian package of ``tools/install-system-packages.sh``."""
    found = shutil.which(name)
    if found is None:
        output = _run_installer("install-system-packages.sh")
        found = shutil.which(name)
        if found is None:
            pytest.fail(
                f"{name} is not installed and tools/install-system-packages.sh could not "
                f"install it:\n{output}"
            )
    return found


def kustomize() -> str:
    """Path of the pinned kustomize in the virtual environment."""
    path = VENV_BIN / "kustomize"
    if not path.exists():
        output = _run_installer("install-kustomize.sh", str(VENV_BIN.parent))
        if not path.exists():
            pytest.fail(f"kustomize is missing and tools/install-kustomize.sh failed:\n{output}")
    return str(path)


def venv_tool(name: str) -> str:
    """Path of a command from the ``dev`` extra (``pip install -e ".[dev]"``)."""
    path = VENV_BIN / name
    if not path.exists():
        pytest.fail(f"{name} is missing from {VENV_BIN}: run make setup-dev")
    return str(path)
