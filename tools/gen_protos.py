"""Regenerates the Python stubs (with .pyi) of every .proto under protos/, beside it.

Usage: python tools/gen_protos.py [--out DIR]

The stubs are importable by the full proto package path, e.g.
``avatar.tts.v1.tts_pb2``; each generated package folder gets an ``__init__.py``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"


def proto_files() -> list[Path]:
    """Every contract, ``protos/avatar/<service>/v1/*.proto`` (not build copies)."""
    return sorted(PROTO_ROOT.glob("avatar/*/v*/*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Compiles every proto into ``out_dir``; returns the generated files."""
    protos = proto_files()
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *[str(p.relative_to(PROTO_ROOT)) for p in protos],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    generated = []
    for proto in protos:
        package_dir = out_dir / proto.parent.relative_to(PROTO_ROOT)
        _ensure_packages(out_dir, package_dir)
        stem = proto.stem
        generated += [
            package_dir / f"{stem}_pb2.py",
            package_dir / f"{stem}_pb2.pyi",
            package_dir / f"{stem}_pb2_grpc.py",
        ]
    return generated


def _ensure_packages(out_dir: Path, package_dir: Path) -> None:
    """Gives ``package_dir`` and each folder between it and ``out_dir`` an ``__init__.py``."""
    folder = package_dir
    while folder != out_dir:
        init = folder / "__init__.py"
        if not init.exists():
            init.write_text('"""Generated protocol buffer stubs."""\n')
        folder = folder.parent


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROTO_ROOT)
    args = parser.parse_args()
    files = generate(args.out)
    print(f"generated {len(files)} files under {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
