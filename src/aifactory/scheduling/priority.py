"""Queue order, in the manner of Slurm's priority/multifactor with Fair Tree (pure).

- **Usage** decays with a half-life: a GPU-second used one half-life ago counts half.
- **Fair Tree** over organisation -> project: at each level, siblings are ordered by their
  *level fair-share* S/U (their share of the siblings' shares over their share of the
  siblings' usage; infinite without usage). Walking the tree depth-first in that order ranks
  the projects; a project's fair-share factor is its rank over the number of projects, so every
  project of a better-placed organisation ranks above every project of a worse-placed one.
  Ties (equal level fair-share on the whole path) share a rank.
- **Priority** = weighted age (capped), fair-share, job size and the access mode's QoS.

See https://slurm.schedmd.com/fair_tree.html and priority_multifactor.html.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from aifactory.domain.access import AccessMode

DEFAULT_HALF_LIFE_S = 7 * 86400.0


def decayed(gpu_seconds: float, used_at: datetime, now: datetime, half_life_s: float) -> float:
    """What ``gpu_seconds`` used at ``used_at`` still count for at ``now``."""
    age = max(0.0, (now - used_at).total_seconds())
    return float(gpu_seconds * math.pow(0.5, age / half_life_s))


@dataclass(frozen=True)
class Account:
    """A project in the fair-share tree: its organisation, shares and decayed usage."""

    org: str
    project: str
    shares: float  # e.g. the GPU-hours its active allocations grant
    usage: float  # decayed GPU-seconds


def _level_fs(shares: float, sib_shares: float, usage: float, sib_usage: float) -> float:
    s = shares / sib_shares if sib_shares > 0 else 0.0
    u = usage / sib_usage if sib_usage > 0 else 0.0
    if u == 0.0:
        return math.inf if s > 0 else 0.0
    return s / u


def fair_tree(accounts: Iterable[Account]) -> dict[str, float]:
    """Project -> fair-share factor in (0, 1]; 1 for the best-placed project."""
    by_org: dict[str, list[Account]] = {}
    for a in accounts:
        by_org.setdefault(a.org, []).append(a)
    if not by_org:
        return {}
    # fsum: correctly rounded whatever the order, so the ranks do not depend on input order.
    org_shares = {o: math.fsum(a.shares for a in accs) for o, accs in by_org.items()}
    org_usage = {o: math.fsum(a.usage for a in accs) for o, accs in by_org.items()}
    all_shares = math.fsum(org_shares.values())
    all_usage = math.fsum(org_usage.values())
    keyed: list[tuple[tuple[float, float], str]] = []
    for org, accs in by_org.items():
        org_fs = _level_fs(org_shares[org], all_shares, org_usage[org], all_usage)
        for a in accs:
            own = _level_fs(a.shares, org_shares[org], a.usage, org_usage[org])
            keyed.append(((org_fs, own), a.project))
    # Depth-first in level fair-share order is the order of the (org, own) key, highest first;
    # the project id only makes the order stable, it does not break ties in rank.
    keyed.sort(key=lambda item: (-item[0][0], -item[0][1], item[1]))
    n = len(keyed)
    factors: dict[str, float] = {}
    rank, previous = n, None
    for index, (key, project) in enumerate(keyed):
        if key != previous:
            rank, previous = n - index, key
        factors[project] = rank / n
    return factors


# Large Scale and AI for Science above Fast Lane above Playground (the default).
DEFAULT_QOS: Mapping[AccessMode, float] = {
    AccessMode.LARGE_SCALE: 1.0,
    AccessMode.AI_FOR_SCIENCE: 1.0,
    AccessMode.FAST_LANE: 0.5,
    AccessMode.PLAYGROUND: 0.0,
}


@dataclass(frozen=True)
class Weights:
    """PriorityWeight* of slurm.conf, and the age at which the age factor is full."""

    age: float = 1000.0
    fairshare: float = 10_000.0
    size: float = 1000.0
    qos: float = 2000.0
    max_age_s: float = 7 * 86400.0
    qos_by_mode: Mapping[AccessMode, float] = field(default_factory=lambda: dict(DEFAULT_QOS))


class Factors(NamedTuple):  # a tuple: one per pending job, so cheap to make
    """Each factor in [0, 1], as `aif job show` would explain them."""

    age: float
    fairshare: float
    size: float
    qos: float


def factors(
    waited_s: float,
    fairshare: float,
    gpus: int,
    max_gpus: int,
    mode: AccessMode | None,
    weights: Weights,
) -> Factors:
    qos = weights.qos_by_mode.get(mode, 0.0) if mode is not None else 0.0
    return Factors(
        age=min(1.0, max(0.0, waited_s) / weights.max_age_s) if weights.max_age_s > 0 else 1.0,
        fairshare=fairshare,
        size=min(1.0, gpus / max_gpus) if max_gpus > 0 else 0.0,
        qos=qos,
    )


def priority(f: Factors, weights: Weights) -> int:
    """The job's priority: the weighted sum, as an integer like Slurm's."""
    return round(
        weights.age * f.age
        + weights.fairshare * f.fairshare
        + weights.size * f.size
        + weights.qos * f.qos
    )
