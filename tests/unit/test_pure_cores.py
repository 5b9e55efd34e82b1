"""The cores stay pure (DESIGN.md, layers): the scheduling and compliance packages import
the standard library, the domain and themselves only (no database, HTTP, subprocess, or a
clock of their own), so the live service and the simulator share them."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "aifactory"
CORES = ("scheduling", "compliance")
ALLOWED = ("aifactory.domain", "aifactory.scheduling", "aifactory.compliance")
CLOCKS = {("datetime", "now"), ("datetime", "utcnow"), ("date", "today"), ("time", "time")}


def _modules() -> list[Path]:
    return sorted(p for core in CORES for p in (SRC / core).rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_a_core_module_imports_nothing_impure(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            ok = top in sys.stdlib_module_names or name.startswith(ALLOWED)
            assert ok, f"{path.name}:{node.lineno} imports {name}"
            assert top not in {"subprocess", "socket", "sqlite3", "http", "urllib"}, name
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            assert (node.value.id, node.attr) not in CLOCKS, (
                f"{path.name}:{node.lineno} reads the clock ({node.value.id}.{node.attr})"
            )
