"""The checked-in stubs match protos/: regenerating them changes nothing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_protos", ROOT / "tools" / "gen_protos.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_stubs_match_protos(tmp_path):
    generator = _load_generator()
    generated = generator.generate(tmp_path)
    assert len(generated) == 3 * len(generator.proto_files())
    stale = []
    for path in generated:
        relative = path.relative_to(tmp_path)
        checked_in = ROOT / "protos" / relative
        if not checked_in.exists() or checked_in.read_bytes() != path.read_bytes():
            stale.append(str(relative))
    assert not stale, f"stubs out of date, run `make protos`: {stale}"


def test_every_proto_package_matches_its_directory():
    for proto in _load_generator().proto_files():
        package = next(
            line.split()[1].rstrip(";")
            for line in proto.read_text().splitlines()
            if line.startswith("package ")
        )
        directory = proto.parent.relative_to(ROOT / "protos")
        assert package == ".".join(directory.parts), proto


def test_every_message_and_field_is_commented():
    uncommented = []
    for proto in _load_generator().proto_files():
        lines = proto.read_text().splitlines()
        for number, line in enumerate(lines):
            stripped = line.strip()
            declares = stripped.startswith(("message ", "enum ", "service ", "rpc ")) or (
                "=" in stripped
                and stripped.endswith(";")
                and not stripped.startswith(("syntax", "package", "import", "option", "//"))
            )
            if declares and not lines[number - 1].strip().startswith("//"):
                uncommented.append(f"{proto.name}:{number + 1}: {stripped}")
    assert not uncommented, "\n".join(uncommented)
