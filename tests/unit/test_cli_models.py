"""Issue 13's new-user flow through ``aif`` (test_cli's ``cli`` fixture: a real app
in-process): a start-up registers its chatbot use case and sees its transparency obligation,
fine-tunes its registered base model on the local site, and ``aif model show`` reports the
fine-tune's FLOP, energy and carbon from the job that ran; a pretraining project whose
allocation would carry it past 1e23 FLOP is told the notification's due date."""

from __future__ import annotations

import re
from datetime import timedelta

import yaml

from aifactory.db.tables import UsageRecord
from aifactory.services.compliance import cases, ledger
from aifactory.services.ids import utcnow
from tests.unit import test_cli
from tests.unit.test_cli import Cli
from tests.unit.test_cli_access import run_job

cli = test_cli.cli


def test_a_startup_fine_tunes_its_base_model_and_model_show_reports_it(cli: Cli) -> None:
    _org, project = cli.org_and_project()
    cli.apply_to_playground(project)
    shown = cli(
        "usecase",
        "assess",
        project,
        "--purpose",
        "A support chatbot for our customers",
        "--sector",
        "customer service",
        "--yes",
        "art50_1",
    ).stdout
    assert "tell people they interact with an AI system" in shown

    cli(
        "model",
        "create",
        "nordic-base",
        "--project",
        project,
        "--architecture",
        "decoder-only transformer",
        "--in",
        "text",
        "--out",
        "text",
        "--licence",
        "Apache-2.0",
    )
    cli("model", "version", "nordic-base", "1.0", "--parameters", "1000000000")
    cli(
        "model",
        "create",
        "helpdesk-bot",
        "--project",
        project,
        "--architecture",
        "decoder-only transformer",
        "--in",
        "text",
        "--out",
        "text",
        "--task",
        "support chat",
    )
    cli("model", "version", "helpdesk-bot", "1.0", "--base", "nordic-base@1.0")
    spec = cli.tmp / "finetune.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "finetune-helpdesk",
                "project": project,
                "run": "sleep 1.1; echo 'step 100 loss 1.02'",
                "resources": {"accelerator": "local-slot", "accelerators_per_node": 1},
                "work": "fine_tuning",
                "produces": {"model": "helpdesk-bot", "version": "1.0"},
            }
        )
    )
    job_id = cli("submit", str(spec)).stdout.strip()
    assert run_job(cli, job_id)["state"] == "completed"

    with cli.app.state.runtime.db.read() as session:
        usage = session.get(UsageRecord, job_id)
        assert usage is not None
        gpu_s = usage.gpu_seconds
    # The local slot: 1 TFLOP/s peak, 10 W, PUE 1.0, 100 g CO2e/kWh (the catalog's).
    flop, kwh = gpu_s * 1e12 * 0.4, gpu_s * 10 / 3.6e6
    out = cli("model", "show", "helpdesk-bot").stdout
    row = next(line for line in out.splitlines() if line.split()[:1] == ["1.0"])
    assert f"{flop:.3g}" in row and f"{kwh:.4g}" in row and f"{kwh * 100 / 1000:.4g}" in row
    assert "own lineage" in row
    detail = cli("model", "compute", "helpdesk-bot@1.0").stdout
    assert job_id in detail and f"{flop:.3g} FLOP (hardware-based)" in detail
    assert "builds on the provider's own mdv-" in detail


def test_a_pretraining_past_1e23_by_its_allocation_is_told_the_due_date(cli: Cli) -> None:
    _org, project = cli.org_and_project()
    cli(
        "allocation",
        "grant",
        "--project",
        project,
        "--partition",
        "marenostrum5/acc",
        "--gpu-hours",
        "80000",
        "--ends",
        "2099-01-01",
        "--reason",
        "Large Scale pilot",
    )
    cli(
        "model",
        "create",
        "euro-llm",
        "--project",
        project,
        "--architecture",
        "decoder-only transformer",
        "--in",
        "text",
        "--out",
        "text",
    )
    cli("model", "version", "euro-llm", "0.1")
    out = cli("model", "compute", "euro-llm@0.1").stdout
    due = (utcnow().date() + timedelta(days=14)).isoformat()
    found = re.search(
        r"threshold \(gpai\)\s+crossed by forecast compute, (\S+) > 1e\+23 FLOP: "
        r"notify by (\S+)",
        out,
    )
    assert found, out
    assert float(found.group(1)) > 1e23 and found.group(2) == due
    # The deadlines loop's pass opens the case; aif compliance cases lists it, due in 14 days.
    rt = cli.app.state.runtime
    assert cases.run_once(rt.db, rt.catalog, ledger.rules_of(rt.settings)) == 1
    (case,) = cli.json("compliance", "cases", "--state", "open")
    assert (case["threshold"], case["basis"], case["due_on"]) == ("gpai", "forecast", due)
    listed = cli("compliance", "cases").stdout
    assert case["id"] in listed and due in listed and "forecast" in listed


def test_an_evaluation_and_the_annex_xi_draft_with_the_computed_figures(cli: Cli) -> None:
    _org, project = cli.org_and_project()
    cli.apply_to_playground(project)
    cli(
        "model",
        "create",
        "helpdesk-bot",
        "--project",
        project,
        "--architecture",
        "decoder-only transformer",
        "--in",
        "text",
        "--out",
        "text",
        "--licence",
        "Apache-2.0",
        "--task",
        "answering invoice questions",
    )
    cli(
        "model",
        "version",
        "helpdesk-bot",
        "1.0",
        "--parameters",
        "7000000000",
        "--tokens",
        "2000000",
        "--external-base",
        "Mistral-7B-v0.1",
    )
    jobs = {}
    for purpose in ("finetuning", "evaluation"):
        spec = cli.tmp / f"{purpose}.yaml"
        spec.write_text(
            yaml.safe_dump(
                {
                    "name": purpose,
                    "project": project,
                    "run": "sleep 1.1",
                    "resources": {"accelerator": "local-slot", "accelerators_per_node": 1},
                    "produces": {"model": "helpdesk-bot", "version": "1.0"},
                    "purpose": purpose,
                }
            )
        )
        jobs[purpose] = cli("submit", str(spec)).stdout.strip()
        assert run_job(cli, jobs[purpose])["state"] == "completed"
    bad = cli(
        "model",
        "evaluate",
        "helpdesk-bot@1.0",
        "--job",
        jobs["finetuning"],
        "--name",
        "x",
        "--metric",
        "accuracy=0.7",
        code=1,
    )
    assert "is not an evaluation" in bad.stderr
    cli(
        "model",
        "evaluate",
        "helpdesk-bot@1.0",
        "--job",
        jobs["evaluation"],
        "--name",
        "invoice-qa",
        "--metric",
        "accuracy=0.71",
        "--metric",
        "f1=0.66",
    )

    compute = cli.json("model", "compute", "helpdesk-bot@1.0")
    text = cli("model", "docs", "helpdesk-bot@1.0").stdout
    assert text.startswith("# Technical documentation (AI Act, Annex XI): helpdesk-bot 1.0")
    flop = compute["training"]["flop"]
    assert f"**2(d) Computational resources used for training:** {flop:.3g} FLOP" in text
    assert f"**2(d) Architecture-based estimate (6·N·D):** {6 * 7e9 * 2e6:.3g} FLOP" in text
    kwh = compute["training"]["kwh"]
    assert kwh < 1 and f"{kwh:.3g} kWh, estimated from the compute used" in text
    assert "**1(d) Number of parameters:** 7,000,000,000" in text
    assert "**1(b) Acceptable use policies:** [to be filled by the provider]" in text
    assert "| invoice-qa | accuracy 0.71, f1 0.66 |" in text
    assert "a modification of Mistral-7B-v0.1, whose training compute is unknown" in text
    page = cli.tmp / "annex-xi.html"
    cli("model", "docs", "helpdesk-bot@1.0", "--format", "html", "--out", str(page))
    html = page.read_text()
    assert "<h1>Technical documentation (AI Act, Annex XI): helpdesk-bot 1.0</h1>" in html
    assert '<dd class="provider">[to be filled by the provider]</dd>' in html
    for kind, title in (
        ("annex-xii", "Information for downstream providers"),
        ("summary", "Public summary of the training content"),
    ):
        assert cli("model", "docs", "helpdesk-bot@1.0", "--kind", kind).stdout.startswith(
            f"# {title}"
        )
