"""Placement, first version: one table per concern, built with small builders."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aifactory.domain.catalog import ExecutorKind, SoftwareStack
from aifactory.scheduling.placement import Load, place
from tests.unit.builders import make_catalog, make_job, make_partition, make_site, planned

A100_FI = make_site("fi", make_partition("a100", "A100"), country="FI")
H100_ES = make_site("es", make_partition("h100", "H100", grid_gco2e_per_kwh=160.0), country="ES")
ROCM_DE = make_site(
    "de",
    make_partition("mi", "MI250X-GCD", accelerators_per_node=8, max_walltime_s=24 * 3600),
    country="DE",
)
TWIN_SE = make_site(
    "se", make_partition("twin", "H100", executor=ExecutorKind.SIMULATED), country="SE"
)
PLANNED_GR = planned(make_site("gr", make_partition("gh", "H100"), country="GR"))
CATALOG = make_catalog(A100_FI, H100_ES, ROCM_DE, TWIN_SE, PLANNED_GR)

# (case, job, expected site or None, {site: words its reason must contain})
FILTERS = [
    ("accelerator model", make_job().needs("A100"), "fi", {"es": "needs A100"}),
    ("stack rocm", make_job().stack("rocm"), "de", {"fi": "software stack is cuda"}),
    ("stack any", make_job().stack("any").needs("MI250X-GCD"), "de", {}),
    ("per node", make_job().gpus(8).stack("any"), "de", {"fi": "4 accelerators per node"}),
    ("nodes", make_job().gpus(1, nodes=11), None, {"fi": "has 10 nodes"}),
    ("cpus", make_job().cpus(65), None, {"fi": "64 CPUs per node"}),
    ("memory", make_job().memory(600), None, {"es": "512 GB per node"}),
    ("walltime", make_job().walltime(49 * 3600).stack("rocm"), None,
     {"de": "maximum walltime"}),
    ("planned site", make_job().only_sites("gr"), None, {"gr": "planned"}),
    ("twin not opted in", make_job().only_sites("se"), None, {"se": "digital twin"}),
    ("twin opted in", make_job().only_sites("se").simulate(), "se", {}),
    ("site constraint", make_job().only_sites("es"), "es", {"fi": "site constraint"}),
    ("country constraint", make_job().only_countries("ES"), "es", {"fi": "may run only in ES"}),
]  # fmt: skip


@pytest.mark.parametrize(("case", "job", "site", "reasons"), FILTERS, ids=[f[0] for f in FILTERS])
def test_hard_filters(case: str, job, site: str | None, reasons: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    result = place(job.build(), CATALOG, {})
    assert (result.chosen.site if result.chosen else None) == site, result.candidates
    by_site = {c.site: c for c in result.candidates}
    assert set(by_site) == {"fi", "es", "de", "se", "gr"}, "every partition is reported"
    for s, words in reasons.items():
        assert not by_site[s].feasible
        assert words in by_site[s].reason, by_site[s].reason


# (case, loads, job, expected site)
EARLIEST = [
    ("free now beats waiting",
     {("fi", "a100"): Load(0, ((600.0, 4, 0),)), ("es", "h100"): Load(4)}, make_job(), "es"),
    ("earlier release wins",
     {("fi", "a100"): Load(0, ((60.0, 4, 0),)), ("es", "h100"): Load(0, ((600.0, 4, 0),))},
     make_job(), "fi"),
    ("tie goes to the faster accelerator", {}, make_job(), "es"),
    ("greenest tie goes to lower carbon", {}, make_job().greenest(), "fi"),
    ("unhealthy partition skipped",
     {("es", "h100"): Load(4, healthy=False, health_reason="down")}, make_job(), "fi"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "loads", "job", "site"), EARLIEST, ids=[e[0] for e in EARLIEST])
def test_earliest_start_then_objective(case: str, loads, job, site: str) -> None:  # type: ignore[no-untyped-def]
    catalog = make_catalog(A100_FI, H100_ES)
    result = place(job.build(), catalog, loads)
    assert result.chosen is not None and result.chosen.site == site, result.candidates
    loser = next(c for c in result.candidates if c.site != site)
    assert loser.reason  # the other site says why it lost


def test_cpus_bound_jobs_without_accelerators_where_tracked() -> None:
    catalog = make_catalog(A100_FI)
    job = make_job().gpus(0).cpus(4).build()
    busy = {("fi", "a100"): Load(40, ((30.0, 0, 8),), free_cpus=2)}
    result = place(job, catalog, busy)
    assert result.chosen is not None and result.chosen.start_in_s == 30.0
    assert place(job, catalog, {("fi", "a100"): Load(40, free_cpus=4)}).chosen.start_in_s == 0


def test_waiting_is_not_placement_when_nothing_frees_capacity() -> None:
    catalog = make_catalog(A100_FI)
    result = place(make_job().gpus(4).build(), catalog, {("fi", "a100"): Load(2)})
    assert result.chosen is None
    assert "nothing running frees" in result.candidates[0].reason


@given(
    per_node=st.integers(0, 10),
    nodes=st.integers(1, 12),
    stack=st.sampled_from(["cuda", "rocm", "any"]),
    model=st.sampled_from(["any", "A100", "H100", "MI250X-GCD"]),
    walltime=st.integers(1, 60 * 3600),
    free=st.integers(0, 40),
)
def test_a_chosen_partition_never_breaks_a_hard_filter(
    per_node: int, nodes: int, stack: str, model: str, walltime: int, free: int
) -> None:
    job = make_job().gpus(per_node, nodes).stack(stack).walltime(walltime)
    if model != "any":
        job = job.needs(model)
    d = job.build()
    loads = {(s.id, p.id): Load(free) for s, p in CATALOG.partitions()}
    result = place(d, CATALOG, loads)
    if result.chosen is None:
        return
    site = CATALOG.site(result.chosen.site)
    part = site.partition(result.chosen.partition)
    assert site.is_operational and part.executor is not ExecutorKind.SIMULATED
    assert d.accelerator in ("any", part.accelerator)
    assert d.stack.value == "any" or SoftwareStack(d.stack.value) in part.software_stacks
    assert d.accelerators_per_node <= part.accelerators_per_node and d.nodes <= part.nodes
    assert d.walltime_s <= part.max_walltime_s
    assert d.accelerators <= free, "placed now only when the accelerators are free"
    assert place(d, CATALOG, loads) == result, "the same input gives the same decision"
