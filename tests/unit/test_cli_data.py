"""The data walkthrough of docs/data.md, as a new user types it: a personal dataset kept in
Finland, pushed with the CLI, read by a job that may run anywhere; the job lands in Finland and
says why every other site was excluded; pinned to Italy it is refused; the transfer log and the
audit trail show what happened; the pull gives back the same bytes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tests.unit.test_cli import Cli, cli  # noqa: F401 - the fixture

JOB = """\
name: train-triage
project: {project}
simulate: true              # the federation's sites are digital twins on one machine
datasets: [patients@1]
resources:
  accelerator: any
  nodes: null
  accelerators: 4
  walltime: 2h
run: torchrun --nproc-per-node=4 train.py --data "$AIF_DATASET_PATIENTS"
"""


def test_the_data_walkthrough(cli: Cli, tmp_path: Path) -> None:  # noqa: F811
    _, project = cli.org_and_project()
    for part in ("lumi/standard-g", "lumi/small-g", "leonardo/boost_usr_prod"):
        cli(
            "allocation",
            "grant",
            "--project",
            "llm",
            "--partition",
            part,
            "--gpu-hours",
            "100",
            "--ends",
            "2099-01-01",
            "--reason",
            "test",
        )
    out = cli(
        "data",
        "create",
        "patients",
        "--project",
        "llm",
        "--classification",
        "personal",
        "--licence",
        "proprietary",
        "--countries",
        "FI",
        "--source",
        "partner hospital",
        "--tdm-opt-outs-respected",
    ).stdout
    assert "may be stored and processed only in FI; uploads go to lumi" in out
    notes = tmp_path / "patients.csv"
    data = os.urandom(300_000)
    notes.write_bytes(data)
    out = cli("data", "push", str(notes), "--dataset", "patients").stdout
    assert f"patients@1: 300000 bytes, SHA-256 {hashlib.sha256(data).hexdigest()}, at lumi" in out

    spec = tmp_path / "job.yaml"
    spec.write_text(JOB.format(project=project))
    submitted = cli("submit", str(spec)).stdout
    job_id = next(w for w in submitted.split() if w.startswith("job-")).strip(".:,")
    platform_loop(cli)
    shown = cli("job", "show", job_id).stdout
    assert "lumi" in shown
    for country in ("DE", "IT", "LU", "ES", "SE"):
        assert f"dataset patients@1 may be processed only in FI, not {country}" in shown, shown

    pinned = tmp_path / "pinned.yaml"
    pinned.write_text(JOB.format(project=project) + "constraints: {sites: [leonardo]}\n")
    r = cli("submit", str(pinned), code=1)
    assert (
        "Forbidden" in r.stderr and "pinned to leonardo (IT), where its data may not go" in r.stderr
    )

    log = cli("data", "transfers", "patients").stdout
    assert "upload" in log and "lumi (FI)" in log
    events = cli("audit", "events").stdout
    for action in ("dataset.create", "dataset.version.create", "job.submit", "job.pin.refused"):
        assert action in events, events

    back = tmp_path / "back.csv"
    cli("data", "pull", "patients@1", str(back))
    assert back.read_bytes() == data
    assert "download" in cli("data", "transfers", "patients").stdout


def platform_loop(c: Cli) -> None:
    """One dispatch pass (the loops are off in tests)."""
    runtime = c.app.state.runtime
    runtime.dispatcher.dispatch_once()
