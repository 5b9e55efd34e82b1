"""Everything a user can set, call or type is documented (a habit taken from Datasette)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command

from aifactory.api.app import create_app
from aifactory.cli.main import app as cli_app
from aifactory.settings import Settings, load_settings

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _commands(group: Any, prefix: str = "") -> list[str]:
    subs = getattr(group, "commands", None)
    if not subs:
        return [prefix]
    out: list[str] = []
    for name, sub in subs.items():
        out += _commands(sub, f"{prefix} {name}".strip())
    return out


@pytest.mark.parametrize("command", sorted(_commands(get_command(cli_app))))
def test_every_cli_command_is_in_docs_cli(command: str) -> None:
    assert f"`aif {command}" in (DOCS / "cli.md").read_text()


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_in_docs_operations(name: str) -> None:
    assert f"AIF_{name.upper()}" in (DOCS / "operations.md").read_text()


def test_every_operation_is_in_docs_api(tmp_path: Path) -> None:
    spec = create_app(load_settings(data_dir=tmp_path, run_loops=False)).openapi()
    text = (DOCS / "api.md").read_text()
    ops = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
    missing = sorted(op for op in ops if f"`{op}`" not in text)
    assert not missing, f"undocumented operations: {missing}"
