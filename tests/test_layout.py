"""The repository keeps the design card's layout and each unit stays deployable alone.

The top level is the user's design card; every service folder and the gateway is a unit
with its own pyproject, Dockerfile and README; no unit reaches into another's code or
stubs (only the gateway speaks to every service); and each unit's dependency closure
leaves out the heavy libraries that belong to other units.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("llm", "tts", "animator", "enhancer", "asr")
# unit name -> (folder, Python package)
UNITS = {
    **{name: (ROOT / "services" / name, f"avatar_{name}") for name in SERVICES},
    "gateway": (ROOT / "gateway", "avatar_gateway"),
}
CORE = (ROOT / "core", "avatar_core")
# Every distribution built from this repository, by name, with its pyproject.toml.
LOCAL_PROJECTS = {
    canonicalize_name(tomllib.loads(path.read_text())["project"]["name"]): path
    for path in [
        ROOT / "protos/pyproject.toml",
        ROOT / "core/pyproject.toml",
        ROOT / "tools/devtools/pyproject.toml",
        *(folder / "pyproject.toml" for folder, _ in UNITS.values()),
    ]
}


def test_the_top_level_is_the_design_card():
    for folder in ("protos", "gateway", "deploy", "tests", "benchmarks", "core", "tools", "docs"):
        assert (ROOT / folder).is_dir(), folder
    assert sorted(p.name for p in (ROOT / "services").iterdir() if p.is_dir()) == sorted(SERVICES)
    assert (ROOT / "README.md").is_file()
    assert not (ROOT / "src").exists()


@pytest.mark.parametrize("unit", UNITS)
def test_every_unit_has_its_pyproject_dockerfile_readme_and_entry_point(unit):
    folder, package = UNITS[unit]
    for file in ("pyproject.toml", "Dockerfile", "README.md"):
        assert (folder / file).is_file(), f"{folder.relative_to(ROOT)}/{file}"
    assert (folder / package / "__main__.py").is_file(), f"python -m {package} serves {unit}"


def _modules(folder: Path) -> list[Path]:
    """Every Python module under ``folder`` (nothing built or cached)."""
    modules = [
        path
        for path in folder.rglob("*.py")
        if not {"build", "__pycache__"} & set(path.parts)
        and not any(part.endswith(".egg-info") for part in path.parts)
    ]
    assert modules, folder
    return modules


def _dynamic_import(node: ast.Call) -> str | None:
    """The module an ``import_module("...")`` or ``__import__("...")`` call names."""
    function = node.func
    name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
    if name in ("import_module", "__import__") and node.args:
        first = node.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value
    return None


def _imports(path: Path) -> Iterable[tuple[int, str]]:
    """(line, module) of every absolute import in a module; ``from a import b`` gives a.b too."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            yield from ((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
        elif isinstance(node, ast.Call) and (module := _dynamic_import(node)):
            yield node.lineno, module


def _is_or_under(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


def _violations(folder: Path, allowed, forbidden_roots: Iterable[str] = ()) -> list[str]:
    """Imports of our own code (``avatar_*``, ``avatar.*``) that ``allowed`` refuses."""
    found = []
    for path in _modules(folder):
        for line, module in _imports(path):
            ours = module.startswith("avatar_") or _is_or_under(module, "avatar")
            refused = any(_is_or_under(module, root) for root in forbidden_roots)
            if refused or (ours and module != "avatar" and not allowed(module)):
                found.append(f"{os.path.relpath(path, ROOT)}:{line} imports {module}")
    return found


def _allowed_for(unit: str):
    """What a unit may import of ours: the shared package, the common types, its own code and
    stubs; the gateway every service's stubs as well."""
    package = UNITS[unit][1]

    def allowed(module: str) -> bool:
        if _is_or_under(module, "avatar"):
            return unit == "gateway" or any(
                _is_or_under(module, f"avatar.{name}") for name in ("common", unit)
            )
        return any(_is_or_under(module, name) for name in ("avatar_core", package))

    return allowed


@pytest.mark.parametrize("unit", UNITS)
def test_no_unit_imports_another_units_code_or_stubs(unit):
    folder, package = UNITS[unit]
    found = _violations(folder / package, _allowed_for(unit), ["tests", "benchmarks"])
    assert not found, "\n".join(found)


def test_the_shared_package_imports_no_unit():
    folder, package = CORE

    def allowed(module: str) -> bool:
        return _is_or_under(module, package) or _is_or_under(module, "avatar.common")

    found = _violations(folder / package, allowed, ["tests", "benchmarks"])
    assert not found, "\n".join(found)


def test_the_import_check_sees_a_forbidden_import(tmp_path):
    (tmp_path / "servicer.py").write_text(
        "import importlib\n"
        "from avatar.tts.v1 import tts_pb2\n"
        "from avatar import gateway\n"
        "from avatar.common.v1 import media_pb2\n"
        "from avatar_core.server import run\n"
        "importlib.import_module('avatar_tts.engines')\n"
        "from . import config\n"
    )
    found = _violations(tmp_path, _allowed_for("animator"))
    assert [entry.split(" imports ")[1] for entry in found] == [
        "avatar.tts.v1",
        "avatar.tts.v1.tts_pb2",
        "avatar.gateway",
        "avatar_tts.engines",
    ]


def test_benchmarks_do_not_import_the_tests():
    found = _violations(ROOT / "benchmarks", lambda module: True, ["tests"])
    assert not found, "\n".join(found)


def _requirements(name: str, extras: Iterable[str]) -> list[Requirement]:
    """What a distribution requires with ``extras``: from its pyproject.toml when it is built
    from this repository, from its installed metadata otherwise."""
    extras = {"", *extras}
    if name in LOCAL_PROJECTS:
        project = tomllib.loads(LOCAL_PROJECTS[name].read_text())["project"]
        optional = project.get("optional-dependencies", {})
        texts = project.get("dependencies", []) + [
            text for extra in extras - {""} for text in optional.get(extra, [])
        ]
        return [Requirement(text) for text in texts]
    try:
        texts = importlib.metadata.distribution(name).requires or []
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(f"{name} is required but not installed: run make setup-dev")
    requirements = [Requirement(text) for text in texts]
    return [
        requirement
        for requirement in requirements
        if requirement.marker is None
        or any(requirement.marker.evaluate({"extra": extra}) for extra in extras)
    ]


def closure(name: str, extras: Iterable[str] = ()) -> set[str]:
    """Every distribution that installing ``name[extras]`` brings, ``name`` included."""
    seen: set[tuple[str, frozenset[str]]] = set()
    pending = [(canonicalize_name(name), frozenset(extras))]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for requirement in _requirements(*current):
            pending.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return {name for name, _ in seen}


FAMILIES = {
    "torch": r"torch(audio|codec|vision)?",
    "coqui-tts": r"coqui-tts(-trainer)?",
    "dlib": r"dlib(-bin)?",
    "opencv": r"opencv(-contrib)?-python(-headless)?",
    "openai": r"openai",
    "espeakng-loader": r"espeakng-loader",
}
# unit -> what its closure (every extra included) must not hold
FORBIDDEN = {
    "gateway": {"torch", "coqui-tts", "dlib", "openai"},
    "tts": {"dlib", "opencv", "openai"},
    "animator": {"torch", "openai", "espeakng-loader"},
    "enhancer": {"torch", "openai", "espeakng-loader"},
    "llm": {"torch", "dlib", "opencv"},
    "asr": {"torch", "coqui-tts", "dlib", "opencv", "openai", "espeakng-loader"},
}


def _families(distributions: set[str]) -> set[str]:
    return {
        family
        for family, pattern in FAMILIES.items()
        if any(re.fullmatch(pattern, name) for name in distributions)
    }


def _extras(unit: str) -> list[str]:
    project = tomllib.loads((UNITS[unit][0] / "pyproject.toml").read_text())["project"]
    return list(project.get("optional-dependencies", {}))


@pytest.mark.parametrize("unit", FORBIDDEN)
def test_a_units_dependencies_leave_out_other_units_libraries(unit):
    installed = closure(f"avatar-{unit}", _extras(unit))
    assert {"avatar-core", "avatar-protos"} <= installed
    assert not _families(installed) & FORBIDDEN[unit], sorted(installed)
    other_units = {f"avatar-{name}" for name in UNITS if name != unit} | {"avatar-devtools"}
    assert not installed & other_units


def test_tts_brings_torch_only_with_its_coqui_extra():
    assert "torch" not in _families(closure("avatar-tts"))
    assert {"torch", "coqui-tts"} <= _families(closure("avatar-tts", ["coqui"]))


def test_the_shared_package_brings_no_units_dependencies():
    core_project = tomllib.loads((CORE[0] / "pyproject.toml").read_text())["project"]
    shared = closure("avatar-core", core_project.get("optional-dependencies", {}))
    own = {
        canonicalize_name(requirement.name)
        for requirement in _requirements("avatar-core", core_project["optional-dependencies"])
    }
    units_only = (
        {
            canonicalize_name(requirement.name)
            for unit in UNITS
            for requirement in _requirements(f"avatar-{unit}", _extras(unit))
        }
        - own
        - {"avatar-core"}
    )
    assert not shared & units_only, sorted(shared & units_only)
    # OpenCV is shared: the media helpers decode and encode frames with it.
    assert not _families(shared) - {"opencv"}, sorted(shared)
    assert not shared & {f"avatar-{name}" for name in UNITS}
