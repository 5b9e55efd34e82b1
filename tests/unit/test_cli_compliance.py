"""The use-case register through ``aif``, against a real app in-process (test_cli's ``cli``
fixture): a start-up registers its chatbot and is shown its transparency obligation; a
compliance officer confirms; a wrong question id is refused before anything is sent."""

from __future__ import annotations

import yaml

from tests.unit import test_cli
from tests.unit.test_cli import Cli
from tests.unit.test_cli_access import user

cli = test_cli.cli


def test_a_startup_registers_its_chatbot_and_an_officer_confirms(cli: Cli) -> None:
    _org, project = cli.org_and_project()
    questions = cli.json("usecase", "questions")
    assert len(questions) == 20 and questions[16]["id"] == "art50_1"
    shown = cli(
        "usecase",
        "assess",
        project,
        "--purpose",
        "A support chatbot for our customers' invoice questions",
        "--sector",
        "customer service",
        "--yes",
        "art50_1",
    ).stdout
    assert "transparency" in shown
    assert "tell people they interact with an AI system" in shown
    assert "Art. 50(1): yes, a transparency obligation" in shown
    assert "compute" in shown and "refused" not in shown

    bad = cli(
        "usecase", "assess", project, "--purpose", "x", "--sector", "y", "--yes", "art99", code=2
    )
    assert "no such question: art99" in bad.stderr

    officer = user(cli, "clara", "compliance")
    confirmed = cli.json(
        *officer, "usecase", "review", project, "--reason", "A plain support chatbot, Art. 50(1)"
    )
    assert confirmed["review"] == "confirmed" and confirmed["risk_class"] == "transparency"
    assert "confirmed by a compliance officer" in cli("usecase", "show", project).stdout


def test_a_register_from_a_file_and_a_prohibited_one_gets_no_compute(cli: Cli) -> None:
    _org, project = cli.org_and_project()
    answers = {q["id"]: q["id"] == "art5_e" for q in cli.json("usecase", "questions")}
    path = cli.tmp / "usecase.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "intended_purpose": "Build a face database from images scraped off the web",
                "sector": "security",
                "answers": answers,
            }
        )
    )
    shown = cli("usecase", "assess", project, "-f", str(path)).stdout
    assert "prohibited" in shown and "facial-image scraping" in shown
    assert "refused: a prohibited practice" in shown
    spec = cli.tmp / "job.yaml"
    spec.write_text(yaml.safe_dump({"name": "faces", "project": project, "run": "echo hi"}))
    run = cli("submit", str(spec), code=1)
    assert "prohibited practice under the AI Act" in run.stderr
