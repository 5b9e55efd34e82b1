"""Invariants of data sovereignty, for random catalogs, policies and jobs: no placement puts
a job where one of its datasets may not be processed, and no stage crosses a border the
policy forbids; and the rules of the policies themselves (defaults, what widens)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aifactory.domain.data import (
    EEA,
    Classification,
    ResidencyKind,
    ResidencyPolicy,
    default_policy,
    widens,
)
from aifactory.scheduling.filters import residency as residency_filter
from aifactory.scheduling.model import Action, DataRule, Filter
from aifactory.services.data.placement import residency
from tests.unit.builders import decide, make_job, make_partition, make_site, make_snapshot

COUNTRIES = ["FI", "IT", "DE", "ES", "SE", "US", "NO"]


@st.composite
def policies(draw: st.DrawFn, site_ids: list[str]) -> tuple[ResidencyPolicy, str]:
    """A policy and the dataset's home site."""
    home = draw(st.sampled_from(site_ids))
    kind = draw(st.sampled_from(list(ResidencyKind)))
    if kind is ResidencyKind.COUNTRIES:
        return ResidencyPolicy(
            kind, countries=frozenset(draw(st.sets(st.sampled_from(COUNTRIES))))
        ), home
    if kind is ResidencyKind.SITES:
        return ResidencyPolicy(
            kind, sites=frozenset(draw(st.sets(st.sampled_from(site_ids))))
        ), home
    return ResidencyPolicy(kind), home


def rule(name: str, policy: ResidencyPolicy, home: str) -> DataRule:
    """The scheduler's rule for a dataset, as services.data.placement.rule_of makes it."""
    text = policy.describe(home)
    if policy.kind is ResidencyKind.COUNTRIES:
        return DataRule(name, text, countries=policy.countries)
    if policy.kind is ResidencyKind.SITES:
        return DataRule(name, text, sites=policy.sites)
    if policy.kind is ResidencyKind.HOME:
        return DataRule(name, text, sites=frozenset({home}))
    return DataRule(name, text)


@st.composite
def federations(draw: st.DrawFn) -> list:
    n = draw(st.integers(1, 6))
    return [
        make_site(f"s{i}", make_partition("gpu", nodes=2), country=draw(st.sampled_from(COUNTRIES)))
        for i in range(n)
    ]


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_no_placement_puts_a_job_where_one_of_its_datasets_may_not_be_processed(
    data: st.DataObject,
) -> None:
    sites = data.draw(federations())
    ids = [s.id for s in sites]
    jobs = []
    policies_of: dict[str, list[tuple[ResidencyPolicy, str]]] = {}
    for j in range(data.draw(st.integers(1, 6))):
        drawn = data.draw(st.lists(policies(ids), min_size=1, max_size=3))
        res = residency(rule(f"ds{k}", p, home) for k, (p, home) in enumerate(drawn))
        b = make_job().gpus(data.draw(st.integers(0, 4)))
        b._residency = res
        jobs.append(b.pending(f"j{j}"))
        policies_of[f"j{j}"] = drawn
    decisions = decide(make_snapshot(*sites, jobs=jobs))
    by_id = {s.id: s for s in sites}
    for job in jobs:
        d = decisions.of(job.id)
        admitted = [
            s
            for s in sites
            if all(p.admits(s.id, s.country, home) for p, home in policies_of[job.id])
        ]
        if d.action is Action.PLACE:
            site = by_id[d.chosen.site]
            for p, home in policies_of[job.id]:
                assert p.admits(site.id, site.country, home), (d.chosen, p)
        if not admitted:
            assert d.action is not Action.PLACE
        # Every site excluded for residency is named with a dataset and its rule.
        for v in d.verdicts:
            if v.failed is Filter.RESIDENCY:
                assert "dataset ds" in v.reason
                assert by_id[v.site] not in admitted


@settings(max_examples=500, deadline=None)
@given(data=st.data())
def test_the_filter_admits_a_site_exactly_when_every_policy_does(data: st.DataObject) -> None:
    sites = data.draw(federations())
    ids = [s.id for s in sites]
    drawn = data.draw(st.lists(policies(ids), min_size=1, max_size=4))
    res = residency(rule(f"ds{k}", p, home) for k, (p, home) in enumerate(drawn))
    for site in sites:
        every = all(p.admits(site.id, site.country, home) for p, home in drawn)
        reason = residency_filter(res, site)
        assert (reason is None) == every, (site, drawn, reason)
        if reason is not None:
            # The reason names a dataset whose own policy excludes the site.
            k = int(reason.split("dataset ds", 1)[1].split()[0].split("@")[0])
            p, home = drawn[k]
            assert not p.admits(site.id, site.country, home)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_no_stage_crosses_a_border_the_policy_forbids(data: st.DataObject) -> None:
    """replicas.stage_check, the one gate of every stage (by a user or for a job), says no
    exactly where the policy does not admit the site."""
    from types import SimpleNamespace

    from aifactory.services.data import replicas
    from tests.unit.builders import make_catalog

    sites = data.draw(federations())
    ids = [s.id for s in sites]
    policy, home = data.draw(policies(ids))
    plane = SimpleNamespace(
        site_country=lambda sid: next(s.country for s in sites if s.id == sid),
        catalog=make_catalog(*sites),
    )
    ds = SimpleNamespace(name="ds", home_site=home, policy=policy.as_dict())
    for site in sites:
        why = replicas.stage_check(plane, ds, site.id)  # type: ignore[arg-type]
        assert (why is None) == policy.admits(site.id, site.country, home)


@pytest.mark.parametrize(
    ("classification", "origin", "expected"),
    [
        (
            Classification.PERSONAL,
            "FI",
            ResidencyPolicy(ResidencyKind.COUNTRIES, countries=EEA, eu_eea=True),
        ),
        (
            Classification.SPECIAL_CATEGORY,
            "IT",
            ResidencyPolicy(ResidencyKind.COUNTRIES, countries=frozenset({"IT"})),
        ),
        (Classification.PUBLIC, "FI", ResidencyPolicy(ResidencyKind.ANYWHERE)),
        (Classification.CONFIDENTIAL, "DE", ResidencyPolicy(ResidencyKind.ANYWHERE)),
    ],
)
def test_defaults_personal_data_in_the_eea_special_categories_at_home(
    classification: Classification, origin: str, expected: ResidencyPolicy
) -> None:
    assert default_policy(classification, origin) == expected


SITES = [("lumi", "FI"), ("leonardo", "IT"), ("mimer", "SE")]


def _countries(*c: str) -> ResidencyPolicy:
    return ResidencyPolicy(ResidencyKind.COUNTRIES, countries=frozenset(c))


@pytest.mark.parametrize(
    ("old", "new", "gained"),
    [
        (_countries("FI"), _countries("FI", "SE"), {"mimer", "country SE"}),
        (_countries("FI", "SE"), _countries("FI"), set()),
        (
            _countries("FI"),
            ResidencyPolicy(ResidencyKind.ANYWHERE),
            {"anywhere", "leonardo", "mimer"},
        ),
        (ResidencyPolicy(ResidencyKind.ANYWHERE), _countries("FI"), set()),
        (
            ResidencyPolicy(ResidencyKind.HOME),
            ResidencyPolicy(ResidencyKind.SITES, sites=frozenset({"lumi"})),
            set(),
        ),
        (ResidencyPolicy(ResidencyKind.HOME), _countries("FI"), {"country FI"}),
        # A country with no site yet still widens: a site there may join later.
        (_countries("FI"), _countries("FI", "PL"), {"country PL"}),
    ],
)
def test_what_widens_a_policy(old: ResidencyPolicy, new: ResidencyPolicy, gained: set[str]) -> None:
    assert set(widens(old, new, SITES, "lumi")) == gained


def test_a_job_reading_two_datasets_goes_only_where_both_may_be_processed() -> None:
    fi = make_site("lumi", make_partition("gpu"), country="FI")
    se = make_site("mimer", make_partition("gpu"), country="SE")
    it = make_site("leonardo", make_partition("gpu"), country="IT")
    res = residency(
        [
            DataRule("a@1", "FI, SE", countries=frozenset({"FI", "SE"})),
            DataRule("b@2", "SE, IT", countries=frozenset({"SE", "IT"})),
        ]
    )
    job = replace(make_job().gpus(1).pending("j"), residency=res)
    d = decide(make_snapshot(fi, se, it, jobs=[job])).of("j")
    assert d.action is Action.PLACE and d.chosen.site == "mimer"
    reasons = {v.site: v.reason for v in d.verdicts if v.failed is Filter.RESIDENCY}
    assert reasons == {
        "lumi": "data residency: dataset b@2 may be processed only in SE, IT, not FI",
        "leonardo": "data residency: dataset a@1 may be processed only in FI, SE, not IT",
    }
