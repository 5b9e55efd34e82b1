"""Scoring through ``cycle``: which feasible partition a job's objective picks, and the terms
(start, runtime, energy, carbon) the user reads for each."""

from __future__ import annotations

import pytest

from aifactory.domain.catalog import ExecutorKind, Site
from aifactory.scheduling.model import Action, Active, Config, Decision, Verdict
from tests.unit.builders import (
    JobBuilder,
    decide,
    make_job,
    make_partition,
    make_site,
    make_snapshot,
    running,
)

FI = make_site("fi", make_partition("a100", "A100"), country="FI")  # A100, grid 100
NO = make_site("no", make_partition("a100", "A100", grid_gco2e_per_kwh=20.0), country="NO")
ES = make_site("es", make_partition("h100", "H100", grid_gco2e_per_kwh=200.0), country="ES")
# Same model, slower figures (a power-capped H100) on a greener grid.
CAPPED = make_site(
    "pl", make_partition("h100", "H100", peak_bf16_tflops=500.0, grid_gco2e_per_kwh=100.0)
)
H100 = make_partition("h100", "H100")
TWIN_A = make_site("a", make_partition("h100", "H100", executor=ExecutorKind.SIMULATED))
REAL_B = make_site("b", H100)
REAL_A = make_site("a", H100)
TWO = make_site("c", make_partition("p2", "H100"), make_partition("p1", "H100"))


def busy(site: Site, until: float) -> Active:
    """Every accelerator of the site's first partition taken until ``until`` seconds."""
    part = site.partitions[0]
    return running(f"busy-{site.id}", (site.id, part.id), part.total_accelerators, ends_in=until)


# Default job: 1 GPU of any model, 1 h.  A100 312 TFLOPS, H100 989.4: on an H100 the hour
# scales to 3600 * 312 / 989.4 = 1135 s.
# FI: 0.044 kg, ES: 0.0486 kg (faster, a little dirtier), NO: 0.0088 kg.
# (case, sites, active, job, action, the best partition "site/partition")
SCORES = [
    ("fastest: the faster accelerator", [FI, ES], [], make_job().fastest(), Action.PLACE,
     "es/h100"),
    ("fastest: free now beats a faster one busy for hours", [FI, ES], [busy(ES, 10 * 3600)],
     make_job().fastest(), Action.PLACE, "fi/a100"),
    ("fastest: a short wait for a faster one beats starting now", [FI, ES], [busy(ES, 600)],
     make_job().fastest(), Action.HOLD, "es/h100"),
    ("greenest: least carbon", [FI, ES], [], make_job().greenest(), Action.PLACE, "fi/a100"),
    ("greenest: waits for the green one", [NO, ES], [busy(NO, 10 * 3600)],
     make_job().greenest(), Action.HOLD, "no/a100"),
    ("balanced: much faster for a little more carbon", [FI, ES], [], make_job().balanced(),
     Action.PLACE, "es/h100"),
    ("balanced: much greener for some more time", [NO, ES], [], make_job().balanced(),
     Action.PLACE, "no/a100"),
    ("balanced: a long wait outweighs the carbon", [NO, ES], [busy(NO, 10 * 3600)],
     make_job().balanced(), Action.PLACE, "es/h100"),
    ("any model: runtime scales with peak BF16", [ES, CAPPED], [], make_job().fastest(),
     Action.PLACE, "es/h100"),
    ("pinned model: no scaling, carbon breaks the tie", [ES, CAPPED], [],
     make_job().needs("H100").fastest(), Action.PLACE, "pl/h100"),
    ("tie: a partition that runs code beats a twin", [TWIN_A, REAL_B], [],
     make_job().simulate(), Action.PLACE, "b/h100"),
    ("tie: then the site id", [REAL_B, REAL_A], [], make_job().greenest(), Action.PLACE,
     "a/h100"),
    ("tie: then the partition id", [TWO], [], make_job().fastest(), Action.PLACE, "c/p1"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "sites", "active", "job", "action", "best"), SCORES, ids=[row[0] for row in SCORES]
)
def test_objective_picks_the_partition(
    case: str,
    sites: list[Site],
    active: list[Active],
    job: JobBuilder,
    action: Action,
    best: str,
) -> None:
    decision = decide(make_snapshot(*sites, jobs=[job], active=active)).of("j1")
    assert decision.action is action, decision.reason
    assert decision.chosen is not None
    assert f"{decision.chosen.site}/{decision.chosen.partition}" == best, _terms(decision)
    scores = [v.terms.score for v in decision.verdicts if v.terms is not None]
    assert decision.chosen.terms is not None
    assert decision.chosen.terms.score == min(scores), "the chosen one has the best score"
    for v in decision.verdicts:
        if v is not decision.chosen:
            assert v.reason.startswith("feasible, score "), v.reason


def _terms(decision: Decision) -> list[tuple[str, object]]:
    return [(v.site, v.terms) for v in decision.verdicts]


def _verdict(decision: Decision, site: str) -> Verdict:
    (v,) = (v for v in decision.verdicts if v.site == site)
    return v


def test_terms_arithmetic() -> None:
    """energy = accelerators x power x PUE x runtime (h) / 1000; carbon = energy x grid / 1000;
    the runtime is the walltime on the slowest option, scaled by peak BF16 elsewhere."""
    job = make_job().gpus(2).walltime(2 * 3600).fastest()
    decision = decide(make_snapshot(FI, ES, jobs=[job], active=[busy(ES, 300)])).of("j1")
    fi, es = _verdict(decision, "fi").terms, _verdict(decision, "es").terms
    assert fi is not None and es is not None
    assert fi.start_s == 0.0 and es.start_s == 300.0
    assert fi.runtime_s == 7200.0  # the slowest option runs the whole walltime
    assert es.runtime_s == pytest.approx(7200 * 312 / 989.4)
    assert fi.energy_kwh == pytest.approx(2 * 400 * 1.1 * 2.0 / 1000)  # 1.76 kWh
    assert fi.co2e_kg == pytest.approx(1.76 * 100 / 1000)
    es_hours = 7200 * 312 / 989.4 / 3600
    assert es.energy_kwh == pytest.approx(2 * 700 * 1.1 * es_hours / 1000)
    assert es.co2e_kg == pytest.approx(es.energy_kwh * 200 / 1000)
    assert es.completion_s == pytest.approx(300 + 7200 * 312 / 989.4)
    # fastest: score = completion / the best completion
    assert es.score == 1.0
    assert fi.score == pytest.approx(7200 / es.completion_s)


def test_runtime_is_not_scaled_when_the_slower_partition_is_not_an_option() -> None:
    job = make_job().only_sites("es")
    es = _verdict(decide(make_snapshot(FI, ES, jobs=[job])).of("j1"), "es").terms
    assert es is not None and es.runtime_s == 3600.0


def test_pinned_model_runs_its_whole_walltime_everywhere() -> None:
    decision = decide(make_snapshot(ES, CAPPED, jobs=[make_job().needs("H100")])).of("j1")
    assert [v.terms.runtime_s for v in decision.verdicts if v.terms] == [3600.0, 3600.0]


@pytest.mark.parametrize(
    ("time_weight", "best"), [(1.0, "es"), (0.0, "no"), (0.5, "no")], ids=["time", "co2", "half"]
)
def test_balanced_time_weight_moves_between_fastest_and_greenest(
    time_weight: float, best: str
) -> None:
    snap = make_snapshot(NO, ES, jobs=[make_job().balanced()])
    decision = decide(snap, config=Config(balanced_time_weight=time_weight)).of("j1")
    assert decision.chosen is not None and decision.chosen.site == best
