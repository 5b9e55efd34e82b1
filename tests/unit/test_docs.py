"""Everything a user can set, call or type is documented (a habit taken from Datasette)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command

from aifactory.api.app import create_app
from aifactory.cli.main import app as cli_app
from aifactory.domain.sbatch.options import OPTIONS
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


def _directive_rows() -> dict[str, str]:
    """docs/jobs.md's directive tables: every option named there -> its kind."""
    text = (DOCS / "jobs.md").read_text()
    section = text[text.index("## Batch scripts") : text.index("### Resources from the partition")]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) < 2 or not line.startswith("|"):
            continue
        kind = cells[0] if cells[0] in ("slurm", "platform", "refused") else "read"
        names = cells[1] if kind != "read" else cells[0]
        for name in re.findall(r"--([a-z][a-z-]*)", names):
            rows.setdefault(name, kind)
    return rows


def test_every_sbatch_option_is_in_docs_jobs_with_what_the_platform_does() -> None:
    rows = _directive_rows()
    for option in OPTIONS:
        assert rows.get(option.name) == option.kind.value, (option.name, rows.get(option.name))
