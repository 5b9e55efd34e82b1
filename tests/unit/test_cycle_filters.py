"""The hard filters through ``cycle``: one table per concern. Every row is a job, where it goes
(or that it fails / waits) and, per partition that must refuse it, the filter and the words
the user reads. (The allocation filter's table is in test_access_rules.py.)"""

from __future__ import annotations

import pytest

from aifactory.domain.catalog import ExecutorKind
from aifactory.scheduling.model import (
    Action,
    Decision,
    Filter,
    OrgRule,
    Snapshot,
    Verdict,
)
from aifactory.scheduling.placement import static_candidates
from tests.unit.builders import (
    JobBuilder,
    decide,
    make_catalog,
    make_job,
    make_partition,
    make_site,
    make_snapshot,
    planned,
    running,
    state,
)

FI = make_site("fi", make_partition("a100", "A100"), country="FI")
ES = make_site("es", make_partition("h100", "H100", grid_gco2e_per_kwh=160.0), country="ES")
DE = make_site(
    "de",
    make_partition("mi", "MI250X-GCD", accelerators_per_node=8, max_walltime_s=24 * 3600),
    country="DE",
)
SE = make_site("se", make_partition("twin", "H100", executor=ExecutorKind.SIMULATED), country="SE")
GR = planned(make_site("gr", make_partition("gh", "H100"), country="GR"))
# An experimental platform on a dirty grid: ordinary jobs may run there but never prefer it.
IT = make_site(
    "it",
    make_partition("exp", "H100", grid_gco2e_per_kwh=900.0),
    country="IT",
    experimental=True,
)
SITES = (FI, ES, DE, SE, GR, IT)
KEYS = [(s.id, p.id) for s in SITES for p in s.partitions]
RESTRICTED = OrgRule("export-control review", countries=frozenset({"FI", "DE"}))
BY_SITE = OrgRule("site agreement pending", sites=frozenset({"es"}))


def _snapshot(job: JobBuilder) -> Snapshot:
    return make_snapshot(
        *SITES, jobs=[job], org_rules={"o-restricted": RESTRICTED, "o-by-site": BY_SITE}
    )


def _by_site(decision: Decision) -> dict[str, Verdict]:
    return {v.site: v for v in decision.verdicts}


def _assert_refused(v: Verdict, failed: Filter, words: str) -> None:
    assert not v.feasible, v
    assert v.failed is failed, v
    assert words in v.reason, v.reason
    assert not v.retry, "a static filter does not change by waiting"


# (case, job, action, chosen site, {site: (filter it fails, words of its reason)})
STATIC = [
    ("site", make_job().only_sites("fi"), Action.PLACE, "fi",
     {"es": (Filter.SITE, "excluded by the job's site constraint (fi)")}),
    ("partition", make_job().only_partitions("h100"), Action.PLACE, "es",
     {"fi": (Filter.PARTITION, "excluded by the job's partition constraint (h100)")}),
    ("country", make_job().only_countries("ES"), Action.PLACE, "es",
     {"fi": (Filter.COUNTRY, "site is in FI; the job may run only in ES")}),
    ("planned site", make_job().only_sites("gr"), Action.FAIL, None,
     {"gr": (Filter.OPERATIONAL, "planned (available from 2027-01-01), not operational")}),
    ("twin not opted in", make_job().only_sites("se"), Action.FAIL, None,
     {"se": (Filter.SIMULATED, "digital twin that runs no code); set simulate: true")}),
    ("twin opted in", make_job().only_sites("se").simulate(), Action.PLACE, "se", {}),
    ("experimental job", make_job().experimental(), Action.PLACE, "it",
     {s: (Filter.EXPERIMENTAL, "not an experimental platform; the job is marked experimental")
      for s in ("fi", "es", "de")}),
    ("ordinary job may use an experimental site", make_job().only_sites("it"), Action.PLACE,
     "it", {}),
    ("accelerator model", make_job().needs("A100"), Action.PLACE, "fi",
     {"es": (Filter.ACCELERATOR, "has H100, the job needs A100")}),
    ("stack rocm", make_job().stack("rocm"), Action.PLACE, "de",
     {"fi": (Filter.STACK, "software stack is cuda, the job is built for rocm")}),
    ("stack any", make_job().stack("any").needs("MI250X-GCD"), Action.PLACE, "de", {}),
    ("fit: nodes", make_job().gpus(1, nodes=11), Action.FAIL, None,
     {"fi": (Filter.FIT, "has 10 nodes, the job needs 11")}),
    ("fit: per node", make_job().gpus(8).stack("any"), Action.PLACE, "de",
     {"fi": (Filter.FIT, "has 4 accelerators per node, the job needs 8")}),
    ("fit: cpus", make_job().cpus(65), Action.FAIL, None,
     {"fi": (Filter.FIT, "has 64 CPUs per node, the job needs 65")}),
    ("fit: memory", make_job().memory(600), Action.FAIL, None,
     {"es": (Filter.FIT, "has 512 GB per node, the job needs 600 GB")}),
    ("walltime", make_job().walltime(25 * 3600).stack("rocm"), Action.FAIL, None,
     {"de": (Filter.WALLTIME, "maximum walltime is 86400 s, the job asks for 90000 s")}),
    ("residency: countries", make_job().residency("ds-health", countries=["FI"]),
     Action.PLACE, "fi",
     {"es": (Filter.RESIDENCY, "data residency: ds-health may be processed only in FI, not ES"),
      "it": (Filter.RESIDENCY, "only in FI, not IT")}),
    ("residency: no country at all", make_job().residency("ds-x", countries=[]), Action.FAIL,
     None, {"fi": (Filter.RESIDENCY, "ds-x may be processed only in no country, not FI")}),
    ("residency: sites", make_job().residency("ds-a", "ds-b", sites=["es"]), Action.PLACE, "es",
     {"fi": (Filter.RESIDENCY, "data residency: ds-a, ds-b may be processed only at es")}),
    ("organisation: countries", make_job().org("o-restricted"), Action.PLACE, "fi",
     {"es": (Filter.ORGANISATION, "organisation restricted by an operator: export-control")}),
    ("organisation: sites", make_job().org("o-by-site"), Action.PLACE, "es",
     {"fi": (Filter.ORGANISATION, "restricted by an operator: site agreement pending")}),
    ("another org is not restricted", make_job().org("o-free").needs("A100"), Action.PLACE,
     "fi", {}),
    ("first failed filter is named", make_job().only_sites("fi").needs("H100"), Action.FAIL,
     None, {"fi": (Filter.ACCELERATOR, "needs H100"), "es": (Filter.SITE, "site constraint")}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "job", "action", "site", "refused"), STATIC, ids=[row[0] for row in STATIC]
)
def test_static_filters(  # type: ignore[no-untyped-def]
    case: str, job: JobBuilder, action: Action, site: str | None, refused
) -> None:
    decision = decide(_snapshot(job)).of("j1")
    assert decision.action is action, decision.reason
    assert (decision.chosen.site if action is Action.PLACE and decision.chosen else None) == site
    assert [v.key for v in decision.verdicts] == KEYS, "every partition, in snapshot order"
    by_site = _by_site(decision)
    for s, (failed, words) in refused.items():
        _assert_refused(by_site[s], failed, words)
    for v in decision.verdicts:
        assert v.feasible == (v.failed is None), v
        assert v.reason, "every partition says why"
    if action is Action.FAIL:
        assert decision.reason.startswith("no partition can run this job: ")
        for v in decision.verdicts:
            assert f"{v.site}/{v.partition}: {v.reason}" in decision.reason


@pytest.mark.parametrize(
    ("case", "job"),
    [
        (row[0], row[1])
        for row in STATIC
        if row[0].split(":")[0] not in ("residency", "organisation")
    ],
)
def test_submission_check_agrees_with_the_cycle(case: str, job: JobBuilder) -> None:
    """``static_candidates`` (used to refuse a job at submission) applies the same filters."""
    decision = decide(_snapshot(job)).of("j1")
    static = static_candidates(job.build(), make_catalog(*SITES))
    assert [(v.key, v.failed, v.reason) for v in static if not v.feasible] == [
        (v.key, v.failed, v.reason) for v in decision.verdicts if not v.feasible
    ]
    assert [v.key for v in static] == KEYS


def test_verdicts_follow_the_snapshot_order_not_the_score() -> None:
    job = make_job().needs("H100")
    forward = decide(make_snapshot(FI, ES, IT, jobs=[job])).of("j1")
    backward = decide(make_snapshot(IT, ES, FI, jobs=[job])).of("j1")
    assert [v.site for v in forward.verdicts] == ["fi", "es", "it"]
    assert [v.site for v in backward.verdicts] == ["it", "es", "fi"]
    assert forward.chosen is not None and backward.chosen is not None
    assert forward.chosen.site == backward.chosen.site == "es"
    (loser,) = (v for v in forward.verdicts if v.site == "it")
    assert loser.feasible and loser.reason.startswith("feasible, score ")


# -- site health: checked by the cycle after the static filters -------------------------------
DEGRADED = {"healthy": False, "health_reason": "site degraded: ssh timeout", "transient": True}
UNCONFIGURED = {"healthy": False, "health_reason": "no slurm executor configured"}

# (case, es state, job, action, chosen site, words in the decision's reason, es filter, retry)
HEALTH = [
    ("transient: waits for the site", DEGRADED, make_job().only_sites("es"), Action.HOLD, None,
     "waiting for a site to answer: es/h100: unhealthy: site degraded: ssh timeout",
     Filter.HEALTH, True),
    ("configured missing: fails", UNCONFIGURED, make_job().only_sites("es"), Action.FAIL, None,
     "no partition can run this job: fi/a100: excluded by the job's site constraint (es); "
     "es/h100: unhealthy: no slurm executor configured", Filter.HEALTH, False),
    ("unhealthy is skipped for a healthy one", DEGRADED, make_job(), Action.PLACE, "fi",
     "placed on fi/a100", Filter.HEALTH, True),
    ("static filter comes before health", UNCONFIGURED, make_job().needs("A100"), Action.PLACE,
     "fi", "placed on fi/a100", Filter.ACCELERATOR, False),
    ("healthy", {}, make_job().only_sites("es"), Action.PLACE, "es", "placed on es/h100", None,
     False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "es", "job", "action", "site", "words", "failed", "retry"),
    HEALTH,
    ids=[row[0] for row in HEALTH],
)
def test_site_health(  # type: ignore[no-untyped-def]
    case: str,
    es,
    job: JobBuilder,
    action: Action,
    site: str | None,
    words: str,
    failed: Filter | None,
    retry: bool,
) -> None:
    snap = make_snapshot(state(FI), state(ES, **es), jobs=[job])
    decision = decide(snap).of("j1")
    assert decision.action is action
    assert (decision.chosen.site if action is Action.PLACE and decision.chosen else None) == site
    assert words in decision.reason, decision.reason
    es_verdict = _by_site(decision)["es"]
    assert es_verdict.failed is failed
    assert es_verdict.retry is retry
    assert es_verdict.feasible is (failed is None)


def test_a_transient_outage_never_turns_into_a_failure_however_long_it_lasts() -> None:
    snap = make_snapshot(state(ES, **DEGRADED), jobs=[make_job().submitted_at(0.0)])
    decision = decide(snap, now=30 * 86400.0).of("j1")
    assert decision.action is Action.HOLD and decision.verdicts[0].retry


# -- suspended projects ------------------------------------------------------------------------
def test_a_suspended_project_waits_with_the_operators_reason_and_takes_nothing() -> None:
    one_gpu = make_site("fi", make_partition("a100", "A100", accelerators_per_node=1, nodes=1))
    snap = make_snapshot(
        one_gpu,
        jobs=[
            make_job().project("p-sus").submitted_at(0.0).pending("old-suspended"),
            make_job().project("p-ok").pending("new-ok"),
        ],
        suspended={"p-sus": "unpaid invoice INV-7"},
    )
    decisions = decide(snap)
    held = decisions.of("old-suspended")
    assert held.action is Action.HOLD
    assert held.reason == "project suspended by an operator: unpaid invoice INV-7"
    assert held.chosen is None and not held.reserved
    assert decisions.of("new-ok").action is Action.PLACE, "the suspended job holds no capacity"


def test_a_suspended_project_is_held_even_when_its_job_could_never_run() -> None:
    snap = make_snapshot(FI, jobs=[make_job().gpus(64)], suspended={"p1": "audit"})
    decision = decide(snap).of("j1")
    assert decision.action is Action.HOLD and "audit" in decision.reason


def test_a_failed_job_takes_no_capacity_from_the_next() -> None:
    one_gpu = make_site("fi", make_partition("a100", "A100", accelerators_per_node=1, nodes=1))
    snap = make_snapshot(
        one_gpu,
        jobs=[make_job().needs("H100").submitted_at(0.0), make_job()],
        active=[running("other", ("fi", "a100"), 0)],
    )
    decisions = decide(snap)
    assert decisions.of("j1").action is Action.FAIL
    assert decisions.of("j2").action is Action.PLACE
