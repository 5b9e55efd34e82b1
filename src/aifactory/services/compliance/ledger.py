"""A model version's compute ledger, read from the usage records of the jobs that produced
it, with the catalog's figures of the partitions they ran on; and its lineage, for the
cumulative compute and the one-third rule. The arithmetic is ``compliance.compute``'s."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
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
    crossings,
    cumulative,
    forecast_flop,
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


def _uses(rows: Iterable[tuple[UsageRecord, float | None]], catalog: Catalog) -> list[JobUse]:
    parts: dict[tuple[str, str], Partition] = {}
    out = []
    for usage, utilisation in rows:
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
                utilisation,
            )
        )
    return out


def job_energy(session: Session, job: Job, catalog: Catalog, rules: Rules) -> JobCompute | None:
    """What an ended job used, in FLOP, kWh and kg CO2e (None before its usage record)."""
    usage = session.get(UsageRecord, job.id)
    if usage is None:
        return None
    try:
        (use,) = _uses([(usage, job.utilisation)], catalog)
    except KeyError:  # its partition has left the catalog since: no figures to use
        return None
    return job_compute(use, rules)


def _ledgers(
    session: Session, version: ModelVersion, catalog: Catalog, rules: Rules
) -> tuple[Ledger, Ledger]:
    rows = session.execute(
        select(UsageRecord, Job.utilisation, Job.purpose)
        .join(Job, Job.id == UsageRecord.job_id)
        .where(Job.model_version_id == version.id)
        .order_by(UsageRecord.recorded_at, UsageRecord.job_id)
    ).all()
    training = {p.value for p in TRAINING_PURPOSES}
    train = [(u, util) for u, util, purpose in rows if purpose in training]
    other = [(u, util) for u, util, purpose in rows if purpose not in training]
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
    session: Session, version: ModelVersion, catalog: Catalog, rules: Rules, now: datetime
) -> VersionCompute:
    """The version's ledger, lineage and crossings (no caller: the deadlines loop's view)."""
    model = session.get(Model, version.model_id)
    assert model is not None
    training, other = _ledgers(session, version, catalog, rules)
    lineage = cumulative(_lineage(session, version, training.flop, catalog, rules), rules)
    more = could_still_add(session, model.project_id, catalog, rules, now)
    crossed = crossings(lineage.flop, more, model.modality_out, now.date(), rules)
    return VersionCompute(version, model, training, other, lineage, more, tuple(crossed))
