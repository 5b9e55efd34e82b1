"""``aif org restrict|unrestrict|show`` against a real app in-process (the ``cli`` fixture of
test_cli, logged in as the platform admin, who is an operator too)."""

from __future__ import annotations

from tests.unit import test_cli
from tests.unit.test_cli import Cli

cli = test_cli.cli  # the fixture: a CLI whose SDK client talks to a fresh app in-process


def test_an_operator_restricts_and_lifts_with_the_cli(cli: Cli) -> None:
    org, _project = cli.org_and_project()
    assert cli.json("org", "show", "acme")["restriction"] is None
    shown = cli("org", "show", "acme").stdout.splitlines()
    assert next(line for line in shown if line.startswith("restricted to")).split()[-1] == "-"

    out = cli(
        "org", "restrict", "acme", "--site", "lumi", "--country", "FI", "--reason", "export hold"
    ).stdout
    assert out.strip() == f"Restricted organisation acme ({org}) to sites lumi; countries FI"
    shown = cli("org", "show", org).stdout
    assert "sites lumi; countries FI" in shown and "export hold" in shown
    listing = next(line for line in cli("orgs").stdout.splitlines() if org in line)
    assert listing.rstrip().endswith("sites lumi; countries FI")
    restriction = cli.json("org", "show", "acme")["restriction"]
    assert restriction["sites"] == ["lumi"] and restriction["reason"] == "export hold"

    # A new restriction replaces it (JSON output too).
    replaced = cli.json("org", "restrict", "acme", "--country", "DE", "--reason", "audit")
    assert replaced["restriction"]["sites"] == [] and replaced["restriction"]["countries"] == ["DE"]

    bad = cli("org", "restrict", "acme", "--site", "atlantis", "--reason", "x", code=1).stderr
    assert "sites[0]: unknown site 'atlantis'" in bad and "lumi" in bad
    assert "give at least one site or one country" in (
        cli("org", "restrict", "acme", "--reason", "x", code=1).stderr
    )
    assert cli.json("org", "show", "acme")["restriction"]["countries"] == ["DE"]  # unchanged

    out = cli("org", "unrestrict", "acme").stdout
    assert out.strip() == f"Lifted the restriction on organisation acme ({org})"
    assert "is not restricted" in cli("org", "unrestrict", "acme", code=1).stderr
    assert cli.json("org", "show", "acme")["restriction"] is None
