"""Layer rules that import-linter cannot express by package, checked by module name (DESIGN §2).

- only actor modules (``*_actor.py``) and ``actors/runtime/thespian_*.py`` import thespian:
  logic and adapters stay testable without an actor system;
- only adapters and codecs (``*_adapter.py``, ``*_codec.py``, ``*_server.py``) import the
  generated ``messages.wire`` code inside ``actors/``.
Exits 1 with one line per violation.
"""

from __future__ import annotations

import ast
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def imported_modules(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def may_import_thespian(rel: pathlib.PurePath) -> bool:
    return rel.name.endswith("_actor.py") or (
        rel.parts[:2] == ("actors", "runtime") and rel.name.startswith("thespian_"))


def may_import_wire(rel: pathlib.PurePath) -> bool:
    return rel.stem.endswith(("_adapter", "_codec", "_server"))


def violations() -> list[str]:
    found: list[str] = []
    for path in sorted((ROOT / "actors").rglob("*.py")):
        rel = path.relative_to(ROOT)
        modules = imported_modules(path)
        if any(m == "thespian" or m.startswith("thespian.") for m in modules) \
                and not may_import_thespian(rel):
            found.append(f"{rel}: imports thespian but is not an actor module (*_actor.py)")
        if any(m.startswith("messages.wire") for m in modules) and not may_import_wire(rel):
            found.append(f"{rel}: imports messages.wire but is not an adapter or codec")
    for path in sorted((ROOT / "messages").rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[1] == "wire":
            continue
        if any(m == "thespian" or m.startswith("thespian.") for m in imported_modules(path)):
            found.append(f"{rel}: messages must not import thespian")
    return found


def main() -> int:
    problems = violations()
    for line in problems:
        print(line)
    print(f"check_layers: {len(problems)} violation(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
