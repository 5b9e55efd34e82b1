"""A model version's compute ledger, read from the usage records of the jobs that produced
it, with the catalog's figures of the partitions they ran on; and its lineage, for the
cumulative compute and the one-third rule. The arithmetic is ``compliance.compute``'s."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aifactory.compliance.compute import (
    Crossing,
    Cumulative,
    External,
    JobCompute,
    JobUse,
    Ledger,
    Remaining,
    Rules,
    Version,
    carbon_kg,
    crossings,
    cumulative,
    energy_kwh,
    forecast_flop,
    hardware_flop,
    job_compute,
    ledger,
)
from aifactory.db.compliance_tables import Model, ModelVersion
from aifactory.db.tables import Allocation, Job, UsageRecord
from aifactory.domain.access import AllocationState
from aifactory.domain.catalog import Catalog, Partition
from aifactory.domain.models import TRAINING_PURPOSES
from aifactory.services.allocations import state_of, totals
from aifactory.services.compliance.models import get_version
from aifactory.services.identity import Principal
from aifactory.settings import Settings


def rules_of(settings: Settings) -> Rules:
    return Rules(
        gpai_flop=settings.compliance_gpai_flop,
        systemic_flop=settings.compliance_systemic_flop,
        notify_days=settings.compliance_notify_days,
        default_utilisation=settings.compliance_default_utilisation,
        modification_fraction=settings.compliance_modification_fraction,
    )


@dataclass(frozen=True)
class VersionCompute:
    version: ModelVersion
    model: Model
    training: Ledger  # pre-training, fine-tuning, synthetic data: training compute
    other: Ledger  # evaluation and inference runs against it (energy, carbon; not training)
    lineage: Cumulative
    more_flop: float  # what the project's allocations could still add, at the default utilisation
    crossings: tuple[Crossing, ...]


def could_still_add(
    session: Session, project_id: str, catalog: Catalog, rules: Rules, now: datetime
) -> float:
    """FLOP the project's allocations not yet ended could still spend: their balance and what
    running jobs hold, on their partitions, at the rules' default utilisation (planned compute
    counts before training ends, Art. 52(1))."""
    allocs = [
        a
        for a in session.execute(
            select(Allocation).where(Allocation.project_id == project_id)
        ).scalars()
        if state_of(a, now) in (AllocationState.ACTIVE, AllocationState.SCHEDULED)
    ]
    sums = totals(session, [a.id for a in allocs])
    remaining = [
        Remaining(
            max(0, sums[a.id].balance + sums[a.id].reserved),
            catalog.site(a.site_id).partition(a.partition_id).peak_bf16_tflops,
        )
        for a in allocs
    ]
    return forecast_flop(remaining, rules)


def _uses(records: Iterable[UsageRecord], catalog: Catalog) -> list[JobUse]:
    parts: dict[tuple[str, str], Partition] = {}
    out = []
    for usage in records:
        key = (usage.site_id, usage.partition_id)
        if key not in parts:
            parts[key] = catalog.site(usage.site_id).partition(usage.partition_id)
        part = parts[key]
        out.append(
            JobUse(
                usage.job_id,
                int(usage.gpu_seconds),
                int(usage.elapsed_s),
                part.peak_bf16_tflops,
                part.power_w,
                part.pue,
                part.grid_gco2e_per_kwh,
                usage.utilisation,
            )
        )
    return out


def job_energy(session: Session, job: Job, catalog: Catalog, rules: Rules) -> JobCompute | None:
    """What an ended job used, in FLOP, kWh and kg CO2e (None before its usage record)."""
    usage = session.get(UsageRecord, job.id)
    if usage is None:
        return None
    try:
        (use,) = _uses([usage], catalog)
    except KeyError:  # its partition has left the catalog since: no figures to use
        return None
    return job_compute(use, rules)


@dataclass(frozen=True)
class Sums:
    """A version's training compute summed over its jobs, without the jobs one by one."""

    flop: float
    gpu_seconds: int
    training_s: int
    kwh: float
    kg_co2e: float
    jobs: int


def recompute_all(session: Session, catalog: Catalog, rules: Rules) -> dict[str, Sums]:
    """Every model version's training ledger in one grouped query: FLOP and energy are linear
    in GPU-seconds for a given partition and utilisation, so the usage records are summed per
    (version, partition, utilisation) in the database and only those groups are weighed here.
    The same figures as ``version_compute`` (tests/api/test_models.py), at any number of
    records."""
    training = {p.value for p in TRAINING_PURPOSES}
    # Grouped in the covering index's order (ix_usage_records_ledger); the purpose is
    # filtered here, so that the grouping follows the index instead of sorting.
    grouped = session.execute(
        select(
            UsageRecord.model_version_id,
            UsageRecord.purpose,
            UsageRecord.site_id,
            UsageRecord.partition_id,
            UsageRecord.utilisation,
            func.sum(UsageRecord.gpu_seconds),
            func.sum(UsageRecord.elapsed_s),
            func.count(),
        )
        .where(UsageRecord.model_version_id.is_not(None))
        .group_by(
            UsageRecord.model_version_id,
            UsageRecord.purpose,
            UsageRecord.site_id,
            UsageRecord.partition_id,
            UsageRecord.utilisation,
        )
    ).all()
    rows = [
        (v, s, p, u, g, e, n) for v, purpose, s, p, u, g, e, n in grouped if purpose in training
    ]
    acc: dict[str, list[float]] = {}
    parts: dict[tuple[str, str], Partition] = {}
    for version_id, site_id, partition_id, utilisation, gpu_s, elapsed, n in rows:
        key = (site_id, partition_id)
        if key not in parts:
            parts[key] = catalog.site(site_id).partition(partition_id)
        part = parts[key]
        u = utilisation if utilisation is not None else rules.default_utilisation
        kwh = energy_kwh(int(gpu_s), part.power_w, part.pue)
        a = acc.setdefault(str(version_id), [0.0, 0, 0, 0.0, 0.0, 0])
        a[0] += hardware_flop(int(gpu_s), part.peak_bf16_tflops, u)
        a[1] += int(gpu_s)
        a[2] += int(elapsed)
        a[3] += kwh
        a[4] += carbon_kg(kwh, part.grid_gco2e_per_kwh)
        a[5] += int(n)
    return {v: Sums(a[0], int(a[1]), int(a[2]), a[3], a[4], int(a[5])) for v, a in acc.items()}


def cumulative_all(session: Session, sums: dict[str, Sums], rules: Rules) -> dict[str, Cumulative]:
    """Every version's cumulative compute along its lineage, from ``recompute_all``."""
    rows = {v.id: v for v in session.execute(select(ModelVersion)).scalars()}
    built: dict[str, Version] = {}

    def node(version_id: str) -> Version:
        if version_id not in built:
            v = rows[version_id]
            base: Version | External | None = None
            if v.base_version_id:
                base = node(v.base_version_id)
            elif v.base_external:
                base = External(v.base_external, v.base_external_flop)
            own = sums[v.id].flop if v.id in sums else 0.0
            built[version_id] = Version(v.id, v.org_id, own, base)
        return built[version_id]

    return {version_id: cumulative(node(version_id), rules) for version_id in rows}


def _ledgers(
    session: Session, version: ModelVersion, catalog: Catalog, rules: Rules
) -> tuple[Ledger, Ledger]:
    records = session.execute(
        select(UsageRecord)
        .where(UsageRecord.model_version_id == version.id)
        .order_by(UsageRecord.recorded_at, UsageRecord.job_id)
    ).scalars()
    training = {p.value for p in TRAINING_PURPOSES}
    train: list[UsageRecord] = []
    other: list[UsageRecord] = []
    for u in records:
        (train if u.purpose in training else other).append(u)
    return (
        ledger(_uses(train, catalog), rules, version.parameters, version.training_tokens),
        ledger(_uses(other, catalog), rules),
    )


def _lineage(
    session: Session, version: ModelVersion, own_flop: float, catalog: Catalog, rules: Rules
) -> Version:
    """The version and its bases as the pure core reads them (a base's own compute from its
    own ledger)."""
    base: Version | External | None = None
    if version.base_version_id:
        parent = session.get(ModelVersion, version.base_version_id)
        assert parent is not None
        base = _lineage(
            session, parent, _ledgers(session, parent, catalog, rules)[0].flop, catalog, rules
        )
    elif version.base_external:
        base = External(version.base_external, version.base_external_flop)
    return Version(version.id, version.org_id, own_flop, base)


def version_compute(
    session: Session,
    principal: Principal,
    version_id: str,
    catalog: Catalog,
    rules: Rules,
    now: datetime,
) -> VersionCompute:
    return compute_of(session, get_version(session, principal, version_id), catalog, rules, now)


def compute_of(
    session: Session,
    version: ModelVersion,
    catalog: Catalog,
    rules: Rules,
    now: datetime,
    more: float | None = None,
) -> VersionCompute:
    """The version's ledger, lineage and crossings (no caller: the deadlines loop's view).
    ``more``: what its project's allocations could still add, when the caller has it."""
    model = session.get(Model, version.model_id)
    assert model is not None
    training, other = _ledgers(session, version, catalog, rules)
    lineage = cumulative(_lineage(session, version, training.flop, catalog, rules), rules)
    if more is None:
        more = could_still_add(session, model.project_id, catalog, rules, now)
    crossed = crossings(lineage.flop, more, model.modality_out, now.date(), rules)
    return VersionCompute(version, model, training, other, lineage, more, tuple(crossed))
