"""Scoring the partitions a job may run on: start, runtime, energy and carbon.

- **Runtime** is the job's walltime scaled by relative accelerator speed (peak BF16): the
  walltime is the limit on the slowest accelerator the job could get, a faster one finishes
  sooner in proportion. A job that pins a model runs on that model everywhere: no scaling.
- **Energy** of the whole job = accelerators x power per accelerator x PUE x runtime;
  **carbon** = energy x the site's grid intensity.
- **Objectives**: ``fastest`` minimises completion (start + runtime), ``greenest`` carbon,
  ``balanced`` a weighted sum of both, each relative to the best partition for this job.
Ties go to partitions that run code (not digital twins), then to the ids: deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence

from aifactory.domain.catalog import Partition
from aifactory.domain.jobs import Objective
from aifactory.scheduling.fit import Need
from aifactory.scheduling.model import Demand, Terms


def terms(d: Demand, need: Need, part: Partition, start_s: float, slowest_tflops: float) -> Terms:
    """``need`` is the job on ``part`` (its time limit there, its accelerators: whole nodes
    where it gets them)."""
    if d.accelerator == "any" and slowest_tflops > 0 and part.peak_bf16_tflops > 0:
        runtime = need.walltime_s * slowest_tflops / part.peak_bf16_tflops
    else:
        runtime = float(need.walltime_s)
    energy_kwh = need.accelerators * part.power_w * part.pue * runtime / 3600 / 1000
    return Terms(
        start_s=start_s,
        runtime_s=runtime,
        energy_kwh=energy_kwh,
        co2e_kg=energy_kwh * part.grid_gco2e_per_kwh / 1000,
    )


def _ratio(value: float, best: float) -> float:
    return value / best if best > 0 else (1.0 if value <= 0 else 2.0)


def rank(
    objective: Objective,
    options: Sequence[tuple[Terms, bool, str, str]],
    time_weight: float = 0.5,
) -> list[tuple[Terms, int]]:
    """Each option (terms, runs code, site, partition) with its score filled in, and the
    index of the best first. Lower scores are better."""
    if not options:
        return []
    best_done = min(t.completion_s for t, *_ in options)
    best_co2 = min(t.co2e_kg for t, *_ in options)
    scored = []
    for i, (t, runs_code, site, part) in enumerate(options):
        if objective is Objective.FASTEST:
            score = _ratio(t.completion_s, best_done)
            tie = t.co2e_kg
        elif objective is Objective.GREENEST:
            score = _ratio(t.co2e_kg, best_co2)
            tie = t.completion_s
        else:
            score = time_weight * _ratio(t.completion_s, best_done) + (1 - time_weight) * _ratio(
                t.co2e_kg, best_co2
            )
            tie = t.completion_s
        filled = Terms(t.start_s, t.runtime_s, t.energy_kwh, t.co2e_kg, score)
        scored.append(((score, tie, 0 if runs_code else 1, site, part), filled, i))
    scored.sort(key=lambda item: item[0])
    return [(terms_, i) for _, terms_, i in scored]
