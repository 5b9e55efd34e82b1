"""Queue order: decayed usage, Fair Tree over organisation -> project, multifactor priority.
One table per concern, small builders, and the Fair Tree invariant as a property."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aifactory.domain.access import AccessMode
from aifactory.scheduling.priority import (
    DEFAULT_HALF_LIFE_S,
    Account,
    Weights,
    decayed,
    factors,
    fair_tree,
    priority,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
DAY = 86400.0


def acct(project: str, org: str = "o1", shares: float = 100, usage: float = 0) -> Account:
    return Account(org=org, project=project, shares=shares, usage=usage)


# -- usage decays with the half-life ---------------------------------------------------------
@pytest.mark.parametrize(
    ("age_days", "expected"),
    [(0, 3600.0), (7, 1800.0), (14, 900.0), (3.5, 3600 / 2**0.5), (-1, 3600.0)],
    ids=["now", "one-half-life", "two-half-lives", "half-a-half-life", "future-counts-full"],
)
def test_usage_decays_by_the_half_life(age_days: float, expected: float) -> None:
    used_at = NOW - timedelta(days=age_days)
    assert decayed(3600, used_at, NOW, DEFAULT_HALF_LIFE_S) == pytest.approx(expected)


# -- Fair Tree -------------------------------------------------------------------------------
FAIR_TREE = [
    pytest.param([acct("a"), acct("b", usage=10)], {"a": 1.0, "b": 0.5}, id="unused-first"),
    pytest.param(
        [acct("a", usage=10), acct("b", usage=10)], {"a": 1.0, "b": 1.0}, id="tie-shares-rank"
    ),
    pytest.param(
        [acct("a", shares=300, usage=10), acct("b", shares=100, usage=10)],
        {"a": 1.0, "b": 0.5},
        id="more-shares-same-usage-first",
    ),
    pytest.param(
        # o1 used little overall, so even its heavier project ranks above all of o2's.
        [
            acct("a1", "o1", usage=1),
            acct("a2", "o1", usage=50),
            acct("b1", "o2", usage=100),
            acct("b2", "o2", usage=200),
        ],
        {"a1": 1.0, "a2": 0.75, "b1": 0.5, "b2": 0.25},
        id="siblings-isolated-by-org",
    ),
    pytest.param([acct("a", shares=0, usage=0)], {"a": 1.0}, id="alone"),
    pytest.param([], {}, id="empty"),
]


@pytest.mark.parametrize(("accounts", "expected"), FAIR_TREE)
def test_fair_tree_ranks(accounts: list[Account], expected: dict[str, float]) -> None:
    assert fair_tree(accounts) == expected


trees = st.lists(
    st.tuples(
        st.sampled_from(["o1", "o2", "o3"]),
        st.floats(0, 1000, allow_nan=False),
        st.floats(0, 1e6, allow_nan=False),
    ),
    min_size=1,
    max_size=12,
).map(lambda rows: [Account(o, f"p{i}", s, u) for i, (o, s, u) in enumerate(rows)])


@given(trees)
def test_every_project_of_a_better_placed_org_ranks_above_the_worse_orgs(
    accounts: list[Account],
) -> None:
    got = fair_tree(accounts)
    assert set(got) == {a.project for a in accounts}
    assert all(0 < f <= 1 for f in got.values())
    assert max(got.values()) == 1.0
    shares = {o: sum(a.shares for a in accounts if a.org == o) for o in {a.org for a in accounts}}
    usage = {o: sum(a.usage for a in accounts if a.org == o) for o in shares}
    total_s, total_u = sum(shares.values()), sum(usage.values())

    def org_fs(o: str) -> float:
        s = shares[o] / total_s if total_s else 0.0
        u = usage[o] / total_u if total_u else 0.0
        return (float("inf") if s > 0 else 0.0) if u == 0 else s / u

    for x in accounts:
        for y in accounts:
            if org_fs(x.org) > org_fs(y.org):
                assert got[x.project] > got[y.project]


@given(trees)
def test_fair_tree_ignores_input_order(accounts: list[Account]) -> None:
    assert fair_tree(accounts) == fair_tree(list(reversed(accounts)))


# -- multifactor priority --------------------------------------------------------------------
W = Weights()

PRIORITY = [
    # (waited s, fair-share, gpus, mode) -> expected priority with the default weights
    pytest.param(0, 0.0, 0, None, 0, id="nothing"),
    pytest.param(7 * DAY, 0.0, 0, None, 1000, id="age-full-after-7-days"),
    pytest.param(70 * DAY, 0.0, 0, None, 1000, id="age-capped"),
    pytest.param(0, 1.0, 0, None, 10_000, id="fairshare-dominates"),
    pytest.param(0, 0.0, 8, None, 500, id="size-half-of-16"),
    pytest.param(0, 0.0, 0, AccessMode.LARGE_SCALE, 2000, id="qos-large-scale"),
    pytest.param(0, 0.0, 0, AccessMode.FAST_LANE, 1000, id="qos-fast-lane"),
    pytest.param(0, 0.0, 0, AccessMode.PLAYGROUND, 0, id="qos-playground"),
    pytest.param(3.5 * DAY, 0.5, 16, AccessMode.AI_FOR_SCIENCE, 500 + 5000 + 1000 + 2000, id="all"),
]


@pytest.mark.parametrize(("waited", "fs", "gpus", "mode", "expected"), PRIORITY)
def test_priority_is_the_weighted_sum(
    waited: float, fs: float, gpus: int, mode: AccessMode | None, expected: int
) -> None:
    assert priority(factors(waited, fs, gpus, 16, mode, W), W) == expected


def test_access_modes_order_by_default_and_the_order_is_configurable() -> None:
    def prio(mode: AccessMode, w: Weights) -> int:
        return priority(factors(0, 0.5, 1, 16, mode, w), w)

    assert (
        prio(AccessMode.LARGE_SCALE, W)
        == prio(AccessMode.AI_FOR_SCIENCE, W)
        > prio(AccessMode.FAST_LANE, W)
        > prio(AccessMode.PLAYGROUND, W)
    )
    flipped = Weights(qos_by_mode={AccessMode.PLAYGROUND: 1.0, AccessMode.LARGE_SCALE: 0.0})
    assert prio(AccessMode.PLAYGROUND, flipped) > prio(AccessMode.LARGE_SCALE, flipped)
