"""A use case's class from its answers, table-driven: the strictest answer decides, the
rationale names every article answered, and an incomplete register is refused by question."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aifactory.compliance.risk import (
    HIGH_RISK_AREAS,
    PROHIBITED_PRACTICES,
    QUESTIONS,
    TRANSPARENCY_QUESTIONS,
    RiskClass,
    Unanswered,
    assess,
)


def answers(*yes: str) -> dict[str, bool]:
    """Every question answered: no, but those named."""
    unknown = set(yes) - {q.id for q in QUESTIONS}
    assert not unknown, unknown
    return {q.id: q.id in yes for q in QUESTIONS}


@pytest.mark.parametrize(
    ("case", "yes", "risk", "areas", "obligations"),
    [
        (
            "a customer-service chatbot",
            ("art50_1",),
            RiskClass.TRANSPARENCY,
            (),
            ("tell people they interact with an AI system",),
        ),
        (
            "an image generator",
            ("art50_2", "art50_4"),
            RiskClass.TRANSPARENCY,
            (),
            ("mark synthetic content as machine-readable", "label deep fakes"),
        ),
        (
            "credit scoring",
            ("annex3_5",),
            RiskClass.HIGH_RISK,
            ("access to essential services",),
            (),
        ),
        (
            "a CV screener that chats with candidates",
            ("annex3_4", "art50_1"),
            RiskClass.HIGH_RISK,
            ("employment and worker management",),
            ("tell people they interact with an AI system",),
        ),
        (
            "social scoring by a city",
            ("art5_c", "annex3_5"),
            RiskClass.PROHIBITED,
            ("access to essential services",),
            (),
        ),
        ("weather nowcasting", (), RiskClass.MINIMAL, (), ()),
    ],
)
def test_the_class_a_use_case_gets(
    case: str,
    yes: tuple[str, ...],
    risk: RiskClass,
    areas: tuple[str, ...],
    obligations: tuple[str, ...],
) -> None:
    got = assess(answers(*yes))
    assert got.risk_class is risk, case
    assert got.areas == areas and got.obligations == obligations
    assert got.blocks_compute is (risk is RiskClass.PROHIBITED)


def test_the_rationale_goes_answer_by_answer_in_the_regulations_order() -> None:
    got = assess(answers("art5_f", "art50_1"))
    lines = [f.says for f in got.findings]
    assert len(lines) == len(QUESTIONS) == 8 + 8 + 4
    assert lines[0] == "Art. 5(1)(a): no"
    assert lines[5] == (
        "Art. 5(1)(f): yes, a prohibited practice (emotion recognition at work or school)"
    )
    assert lines[16] == (
        "Art. 50(1): yes, a transparency obligation (tell people they interact with an AI system)"
    )
    assert got.practices == ("emotion recognition at work or school",)


def test_every_question_must_be_answered_and_only_the_registers() -> None:
    partial = answers()
    del partial["annex3_2"], partial["art50_3"]
    partial["art5_z"] = True
    with pytest.raises(Unanswered) as caught:
        assess(partial)
    assert caught.value.problems == {
        "annex3_2": "answer yes or no",
        "art50_3": "answer yes or no",
        "art5_z": "not a question of the register",
    }


def test_the_register_follows_the_regulation() -> None:
    assert [q.article for q in PROHIBITED_PRACTICES] == [f"Art. 5(1)({c})" for c in "abcdefgh"]
    assert [q.article for q in HIGH_RISK_AREAS] == [f"Annex III({n})" for n in range(1, 9)]
    assert [q.article for q in TRANSPARENCY_QUESTIONS] == [f"Art. 50({n})" for n in range(1, 5)]
    assert len({q.id for q in QUESTIONS}) == len(QUESTIONS)


@given(st.dictionaries(st.sampled_from([q.id for q in QUESTIONS]), st.booleans()))
def test_the_strictest_yes_decides(some: dict[str, bool]) -> None:
    full = {q.id: some.get(q.id, False) for q in QUESTIONS}
    got = assess(full)
    yes = {q.gives for q in QUESTIONS if full[q.id]}
    for stricter in RiskClass:
        if stricter in yes:
            assert got.risk_class is stricter  # the first (strictest) class answered yes
            break
    else:
        assert got.risk_class is RiskClass.MINIMAL
    # A prohibited practice blocks compute whatever else is answered.
    assert got.blocks_compute == any(full[q.id] for q in PROHIBITED_PRACTICES)
