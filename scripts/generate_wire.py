"""Regenerate ``messages/wire`` from every ``proto/**/*.proto`` — the only way that tree changes.

Runs grpc_tools.protoc with ``-I proto`` (Python, gRPC stubs for protos with services, and mypy
stubs via mypy-protobuf), then rewrites the generated absolute imports of our own proto packages
(``from flow import flow_pb2``) to live under ``messages.wire``. ``--check`` regenerates into a
temporary tree and exits 1, naming the files, when ``messages/wire`` differs (stale or edited).
"""

from __future__ import annotations

import argparse
import filecmp
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTO = ROOT / "proto"
WIRE = ROOT / "messages" / "wire"
HEADER = '"""Generated protobuf/gRPC code (scripts/generate_wire.py). Never edit by hand."""\n'


def _plugin(name: str) -> str:
    candidate = pathlib.Path(sys.executable).parent / name
    found = candidate if candidate.exists() else shutil.which(name)
    if not found:
        raise SystemExit(f"generate_wire: {name} not found (install mypy-protobuf)")
    return str(found)


def _rewrite_imports(path: pathlib.Path, packages: set[str]) -> None:
    pattern = re.compile(r"^(\s*)(from|import) (" + "|".join(sorted(packages)) + r")(\.|\s)",
                         re.MULTILINE)
    text = path.read_text(encoding="utf-8")
    path.write_text(pattern.sub(r"\1\2 messages.wire.\3\4", text), encoding="utf-8")


def _protoc(argv: list[str]) -> None:
    """Run protoc quietly (mypy-protobuf chatters on stderr); show its output only on failure."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"generate_wire: protoc failed ({done.returncode}):\n"
                         f"{done.stdout}{done.stderr}")


def generate(out: pathlib.Path) -> list[pathlib.Path]:
    protos = sorted(PROTO.rglob("*.proto"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "__init__.py").write_text(HEADER, encoding="utf-8")
    if not protos:
        return []
    with_services = [p for p in protos if re.search(r"^\s*service\s", p.read_text(), re.MULTILINE)]
    base = [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO}",
            f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
            f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
            f"--python_out={out}", f"--mypy_out={out}"]
    _protoc([*base, *map(str, protos)])
    if with_services:
        _protoc([sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO}",
                 f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
                 f"--grpc_python_out={out}", f"--mypy_grpc_out={out}", *map(str, with_services)])
    packages = {p.relative_to(PROTO).parts[0].removesuffix(".proto") for p in protos}
    for path in out.rglob("*.py*"):
        _rewrite_imports(path, packages)
    for directory in [d for d in out.rglob("*") if d.is_dir()]:
        init = directory / "__init__.py"
        if not init.exists():
            init.write_text(HEADER, encoding="utf-8")
    return protos


def _tree(root: pathlib.Path) -> set[pathlib.PurePath]:
    return {p.relative_to(root) for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if messages/wire is stale")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        fresh = pathlib.Path(tmp) / "wire"
        protos = generate(fresh)
        if args.check:
            old, new = _tree(WIRE), _tree(fresh)
            stale = sorted(str(p) for p in old ^ new)
            stale += sorted(str(p) for p in old & new
                            if not filecmp.cmp(WIRE / p, fresh / p, shallow=False))
            if stale:
                print("generate_wire: messages/wire is stale; run `make proto`. Differs: "
                      + ", ".join(stale), file=sys.stderr)
                return 1
            print(f"generate_wire: messages/wire is up to date ({len(protos)} protos)")
            return 0
        shutil.rmtree(WIRE, ignore_errors=True)
        shutil.copytree(fresh, WIRE)
        print(f"generate_wire: generated {len(protos)} protos into messages/wire")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
