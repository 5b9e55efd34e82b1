"""Training compute, energy and carbon of a model version, and what the AI Act makes of them.

From the jobs that produced a version (their usage records: GPU-seconds on a partition):
- hardware-based FLOP = GPU-seconds x the partition's peak dense BF16 FLOP/s x utilisation
  (the rules' default, or the job's measured value), as the Commission's guidelines estimate;
- architecture-based FLOP = 6 x N x D for a dense transformer, when the parameters N and
  training tokens D are declared, shown beside the other, never instead of it;
- energy = GPU-seconds x board power x the site's PUE, and carbon = energy x the grid's
  intensity.
Cumulative compute follows the lineage while the provider stays the same (pre-training, then
its own fine-tunes); a modification of another provider's model is compared with a third of
that model's compute (``Rules.modification_fraction``) to tell whether the modifier becomes a
provider. Thresholds (GPAI criterion, systemic-risk presumption) are crossed when compute is
greater than them, by what ran or by what the active allocations could still add; the
notification is due ``Rules.notify_days`` after it became known."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

TERA = 1e12
JOULES_PER_KWH = 3.6e6


@dataclass(frozen=True)
class Rules:
    """The figures the regulation and the Commission's guidelines set, from configuration."""

    gpai_flop: float = 1e23  # indicative GPAI criterion (guidelines, July 2025)
    systemic_flop: float = 1e25  # systemic-risk presumption, Art. 51(2)
    notify_days: int = 14  # Art. 52(1): at the latest two weeks
    default_utilisation: float = 0.4  # guidelines: 30-40 % typical for large-model training
    modification_fraction: float = 1 / 3  # a modifier becomes a provider above this share
    # Output modalities that make a model over gpai_flop a presumed general-purpose one.
    gpai_modalities: frozenset[str] = frozenset({"text", "audio", "image", "video"})


def check_utilisation(value: float) -> float:
    """A measured utilisation is a share of the peak: in (0, 1]."""
    if not 0 < value <= 1:
        raise ValueError(f"utilisation must be in (0, 1], got {value}")
    return value


def hardware_flop(gpu_seconds: float, peak_tflops: float, utilisation: float) -> float:
    return gpu_seconds * peak_tflops * TERA * check_utilisation(utilisation)


def architecture_flop(parameters: int, tokens: int) -> float:
    """6 x N x D: forward and backward pass of a dense transformer over D tokens."""
    return 6.0 * parameters * tokens


def energy_kwh(gpu_seconds: float, power_w: float, pue: float) -> float:
    return gpu_seconds * power_w * pue / JOULES_PER_KWH


def carbon_kg(kwh: float, grid_gco2e_per_kwh: float) -> float:
    return kwh * grid_gco2e_per_kwh / 1000


@dataclass(frozen=True)
class JobUse:
    """What one ended job used, with its partition's figures (from the catalog)."""

    job_id: str
    gpu_seconds: int
    elapsed_s: int
    peak_tflops: float  # per accelerator
    power_w: float  # per accelerator
    pue: float
    grid_gco2e_per_kwh: float
    utilisation: float | None = None  # measured; None: the rules' default


@dataclass(frozen=True)
class JobCompute:
    job_id: str
    gpu_seconds: int
    flop: float
    utilisation: float
    measured: bool
    kwh: float
    kg_co2e: float


def job_compute(use: JobUse, rules: Rules) -> JobCompute:
    u = use.utilisation if use.utilisation is not None else rules.default_utilisation
    kwh = energy_kwh(use.gpu_seconds, use.power_w, use.pue)
    return JobCompute(
        use.job_id,
        use.gpu_seconds,
        hardware_flop(use.gpu_seconds, use.peak_tflops, u),
        u,
        use.utilisation is not None,
        kwh,
        carbon_kg(kwh, use.grid_gco2e_per_kwh),
    )


@dataclass(frozen=True)
class Ledger:
    """A model version's own compute: the sum over the jobs that produced it."""

    flop: float
    architecture_flop: float | None  # 6·N·D, when N and D are declared
    gpu_seconds: int
    training_s: int  # the jobs' elapsed time, summed
    kwh: float
    kg_co2e: float
    jobs: tuple[JobCompute, ...] = field(default=())


def ledger(
    uses: Iterable[JobUse],
    rules: Rules,
    parameters: int | None = None,
    tokens: int | None = None,
) -> Ledger:
    jobs = []
    training_s = 0
    for use in uses:
        jobs.append(job_compute(use, rules))
        training_s += use.elapsed_s
    arch = architecture_flop(parameters, tokens) if parameters and tokens else None
    return Ledger(
        flop=sum(j.flop for j in jobs),
        architecture_flop=arch,
        gpu_seconds=sum(j.gpu_seconds for j in jobs),
        training_s=training_s,
        kwh=sum(j.kwh for j in jobs),
        kg_co2e=sum(j.kg_co2e for j in jobs),
        jobs=tuple(jobs),
    )


@dataclass(frozen=True)
class Version:
    """A model version in the lineage: who provides it, its own compute, and its base.

    ``base`` is another registered version, or an ``External`` model, or None (trained from
    scratch)."""

    id: str
    provider: str  # the organisation
    own_flop: float
    base: Version | External | None = None


@dataclass(frozen=True)
class External:
    """A base model from outside the platform, with its declared training compute (None:
    the provider does not say)."""

    name: str
    flop: float | None


@dataclass(frozen=True)
class Cumulative:
    flop: float  # the provider's own chain: this version and its same-provider ancestors
    chain: tuple[str, ...]  # those versions' ids, this one first
    base: str | None  # the first base of another provider (or external), if any
    base_flop: float | None  # that base's cumulative compute; None: unknown
    modification_flop: float  # what this provider added on that base (= flop)
    becomes_provider: bool | None  # above the fraction of base_flop; None: cannot tell
    says: str


def cumulative(version: Version, rules: Rules) -> Cumulative:
    chain = [version]
    node: Version | External | None = version.base
    while isinstance(node, Version) and node.provider == version.provider:
        chain.append(node)
        node = node.base
    flop = sum(v.own_flop for v in chain)
    ids = tuple(v.id for v in chain)
    own = (
        f"builds on the provider's own {', '.join(ids[1:])}: the cumulative compute adds them up"
        if len(ids) > 1
        else "trained from scratch by its provider"
    )
    if node is None:
        return Cumulative(flop, ids, None, None, flop, None, own)
    if isinstance(node, External):
        base_name, base_flop = node.name, node.flop
    else:
        base_name, base_flop = node.id, cumulative(node, rules).flop
    if base_flop is None:
        return Cumulative(
            flop,
            ids,
            base_name,
            None,
            flop,
            None,
            f"a modification of {base_name}, whose training compute is unknown: whether the "
            "modifier becomes its provider cannot be told",
        )
    limit = rules.modification_fraction * base_flop
    becomes = flop > limit
    verdict = "becomes the provider of the modified model" if becomes else "stays a modifier"
    return Cumulative(
        flop,
        ids,
        base_name,
        base_flop,
        flop,
        becomes,
        f"a modification of {base_name}: {flop:.3g} FLOP against "
        f"{rules.modification_fraction:.3g} x {base_flop:.3g} = {limit:.3g} FLOP; the modifier "
        f"{verdict}",
    )


class Threshold(StrEnum):
    GPAI = "gpai"
    SYSTEMIC_RISK = "systemic-risk"


class Basis(StrEnum):
    ACTUAL = "actual"  # what ran
    FORECAST = "forecast"  # what ran plus what the active allocations could still spend


@dataclass(frozen=True)
class Crossing:
    threshold: Threshold
    basis: Basis
    flop: float
    limit: float
    known_on: date
    due_on: date  # the notification's last day


@dataclass(frozen=True)
class Remaining:
    """GPU-seconds an active allocation could still spend, with its partition's peak."""

    gpu_seconds: int
    peak_tflops: float


def forecast_flop(remaining: Sequence[Remaining], rules: Rules) -> float:
    return sum(
        hardware_flop(r.gpu_seconds, r.peak_tflops, rules.default_utilisation) for r in remaining
    )


def crossings(
    actual_flop: float,
    more_flop: float,
    modalities: Iterable[str],
    known_on: date,
    rules: Rules,
) -> list[Crossing]:
    """The thresholds crossed (greater than) by actual compute, or else by the forecast
    (actual plus ``more_flop``). The GPAI criterion counts only for models that generate one
    of ``rules.gpai_modalities``; the systemic-risk presumption for any."""
    out = []
    limits = [(Threshold.SYSTEMIC_RISK, rules.systemic_flop)]
    if set(modalities) & rules.gpai_modalities:
        limits.insert(0, (Threshold.GPAI, rules.gpai_flop))
    due = known_on + timedelta(days=rules.notify_days)
    for threshold, limit in limits:
        if actual_flop > limit:
            out.append(Crossing(threshold, Basis.ACTUAL, actual_flop, limit, known_on, due))
        elif actual_flop + more_flop > limit:
            forecast = actual_flop + more_flop
            out.append(Crossing(threshold, Basis.FORECAST, forecast, limit, known_on, due))
    return out
