"""Training compute, energy and carbon as the AI Act's guidelines estimate them, worked by hand
on the catalog's real partitions; the lineage and the one-third rule; thresholds crossed by
actual and by forecast compute with the notification's due date."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aifactory.catalog.loader import load_catalog
from aifactory.compliance.compute import (
    Basis,
    External,
    JobUse,
    Remaining,
    Rules,
    Threshold,
    Version,
    crossings,
    cumulative,
    forecast_flop,
    hardware_flop,
    ledger,
)
from aifactory.domain.catalog import Partition

RULES = Rules()
HOUR = 3600


def _partition(site_id: str, partition_id: str) -> Partition:
    for site, part in load_catalog().partitions():
        if site.id == site_id and part.id == partition_id:
            return part
    raise AssertionError(f"{site_id}/{partition_id} is not in the catalog")


def _use(
    part: Partition, gpus: int, hours: float, job: str = "j1", utilisation: float | None = None
) -> JobUse:
    seconds = int(hours * HOUR)
    return JobUse(
        job,
        gpus * seconds,
        seconds,
        part.peak_bf16_tflops,
        part.power_w,
        part.pue,
        part.grid_gco2e_per_kwh,
        utilisation,
    )


def test_eight_h100_for_ten_hours_at_the_default_utilisation() -> None:
    mn5 = _partition("marenostrum5", "acc")  # H100, PUE 1.1, 160 g CO2e/kWh in the catalog
    assert (mn5.peak_bf16_tflops, mn5.power_w) == (989.4, 700)
    got = ledger([_use(mn5, 8, 10)], RULES)
    # 8 x 36,000 s = 288,000 GPU-s; x 989.4e12 FLOP/s x 0.4 = 1.1398e20 FLOP (the 1.14e20)
    assert got.gpu_seconds == 288_000
    assert got.flop == pytest.approx(1.139789e20, rel=1e-6)
    # 288,000 s x 700 W x 1.1 / 3.6e6 = 61.6 kWh; x 160 g/kWh = 9.856 kg CO2e
    assert got.kwh == pytest.approx(61.6)
    assert got.kg_co2e == pytest.approx(9.856)
    assert got.training_s == 36_000
    assert got.architecture_flop is None  # N and D not declared: no 6ND figure


def test_the_reference_worked_example_one_h100_hour_and_a_fast_lane_allocation() -> None:
    # ../shared/reference/ai-act.md: 1 GPU-hour = 3,600 x 989.4e12 x 0.4 = 1.42e18 FLOP; a full
    # Fast Lane allocation (50,000 GPU-hours) is about 7.1e22 FLOP, just under 1e23.
    assert hardware_flop(HOUR, 989.4, 0.4) == pytest.approx(1.4247e18, rel=1e-4)
    fast_lane = hardware_flop(50_000 * HOUR, 989.4, 0.4)
    assert fast_lane == pytest.approx(7.12e22, rel=1e-3) and fast_lane < RULES.gpai_flop


def test_a_measured_utilisation_replaces_the_default_for_its_job_only() -> None:
    mn5 = _partition("marenostrum5", "acc")
    got = ledger([_use(mn5, 4, 1, "measured", utilisation=0.55), _use(mn5, 4, 1, "default")], RULES)
    measured, default = got.jobs
    assert (measured.utilisation, measured.measured) == (0.55, True)
    assert (default.utilisation, default.measured) == (0.4, False)
    assert measured.flop / default.flop == pytest.approx(0.55 / 0.4)
    assert got.flop == pytest.approx(measured.flop + default.flop)


def test_lumi_counts_each_mi250x_gcd_as_slurm_does() -> None:
    lumi = _partition("lumi", "standard-g")  # 8 GCDs a node, half an MI250X's 383 TFLOP/s each
    assert lumi.peak_bf16_tflops == pytest.approx(191.5)
    got = ledger([_use(lumi, 8, 1)], RULES)
    assert got.flop == pytest.approx(8 * HOUR * 191.5e12 * 0.4)


def test_the_architecture_estimate_stands_beside_the_hardware_one() -> None:
    mn5 = _partition("marenostrum5", "acc")
    # A 7B model on 1T tokens: 6 x 7e9 x 1e12 = 4.2e22 FLOP.
    got = ledger([_use(mn5, 8, 10)], RULES, parameters=7_000_000_000, tokens=10**12)
    assert got.architecture_flop == pytest.approx(4.2e22)
    assert got.flop == pytest.approx(1.139789e20, rel=1e-6)  # unchanged by the declaration


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.01, 40.0])
def test_a_utilisation_outside_zero_to_one_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match=r"utilisation must be in \(0, 1\]"):
        hardware_flop(HOUR, 989.4, bad)


# --- lineage -----------------------------------------------------------------------------


def test_an_own_fine_tune_adds_to_its_own_pretraining() -> None:
    base = Version("base-v1", "org-a", 5e22)
    tune = Version("chat-v1", "org-a", 2e21, base=base)
    got = cumulative(tune, RULES)
    assert got.flop == pytest.approx(5.2e22)
    assert got.chain == ("chat-v1", "base-v1")
    assert got.base is None and got.becomes_provider is None
    assert got.says == "builds on the provider's own base-v1: the cumulative compute adds them up"
    alone = cumulative(base, RULES)
    assert alone.says == "trained from scratch by its provider" and alone.chain == ("base-v1",)


def test_a_modification_of_an_external_model_against_a_third_of_its_compute() -> None:
    # Below a third of the external base's declared 3e24: stays a modifier.
    small = cumulative(Version("tune", "org-a", 9e23, External("Llama-x", 3e24)), RULES)
    assert small.flop == pytest.approx(9e23) and small.base == "Llama-x"
    assert small.becomes_provider is False and "stays a modifier" in small.says
    # Above it (1.1e24 > 1e24): the modifier becomes the modified model's provider.
    big = cumulative(Version("tune", "org-a", 1.1e24, External("Llama-x", 3e24)), RULES)
    assert big.becomes_provider is True and "becomes the provider" in big.says


def test_an_external_base_of_unknown_compute_is_reported_as_such() -> None:
    got = cumulative(Version("tune", "org-a", 1e22, External("mystery-7b", None)), RULES)
    assert got.base_flop is None and got.becomes_provider is None
    assert "mystery-7b, whose training compute is unknown" in got.says


def test_another_tenants_registered_base_counts_with_its_own_lineage() -> None:
    # org-b pre-trained and fine-tuned; org-a modifies org-b's fine-tune. org-a's cumulative is
    # its own; the base's is org-b's whole chain (6e23 + 3e23).
    b_pre = Version("b-pre", "org-b", 6e23)
    b_tune = Version("b-tune", "org-b", 3e23, base=b_pre)
    a_tune = Version("a-tune", "org-a", 4e23, base=b_tune)
    got = cumulative(a_tune, RULES)
    assert got.flop == pytest.approx(4e23) and got.chain == ("a-tune",)
    assert got.base_flop == pytest.approx(9e23)
    assert got.becomes_provider is True  # 4e23 > 3e23


def test_the_fraction_comes_from_the_rules() -> None:
    version = Version("tune", "org-a", 4e23, External("x", 1e24))
    assert cumulative(version, RULES).becomes_provider is True  # 4e23 > 3.33e23
    assert cumulative(version, Rules(modification_fraction=0.5)).becomes_provider is False


# --- thresholds --------------------------------------------------------------------------

KNOWN = date(2026, 12, 8)


def test_actual_compute_over_the_gpai_criterion_is_due_in_fourteen_days() -> None:
    (got,) = crossings(1.2e23, 0, {"text"}, KNOWN, RULES)
    assert (got.threshold, got.basis) == (Threshold.GPAI, Basis.ACTUAL)
    assert got.due_on == date(2026, 12, 22)


def test_a_forecast_crossing_counts_before_training_ends() -> None:
    mn5 = _partition("marenostrum5", "acc")
    # 5e22 ran; the project's allocations could add 60,000 H100-hours (8.5e22): 1.35e23.
    more = forecast_flop([Remaining(60_000 * HOUR, mn5.peak_bf16_tflops)], RULES)
    assert more == pytest.approx(8.548e22, rel=1e-3)
    (got,) = crossings(5e22, more, {"text"}, KNOWN, RULES)
    assert (got.threshold, got.basis) == (Threshold.GPAI, Basis.FORECAST)
    assert got.flop == pytest.approx(5e22 + more)


@pytest.mark.parametrize(
    ("actual", "more", "modalities", "want"),
    [
        (1e23, 0, {"text"}, []),  # equal is not greater than
        (9e22, 0, {"text"}, []),
        (2e23, 0, {"tabular"}, []),  # not a generative modality: not presumed GPAI
        (2e25, 0, {"tabular"}, [(Threshold.SYSTEMIC_RISK, Basis.ACTUAL)]),
        (
            2e25,
            0,
            {"image"},
            [(Threshold.GPAI, Basis.ACTUAL), (Threshold.SYSTEMIC_RISK, Basis.ACTUAL)],
        ),
        (
            2e23,
            1e25,
            {"text"},
            [(Threshold.GPAI, Basis.ACTUAL), (Threshold.SYSTEMIC_RISK, Basis.FORECAST)],
        ),
    ],
)
def test_which_thresholds_are_crossed(
    actual: float, more: float, modalities: set[str], want: list[tuple[Threshold, Basis]]
) -> None:
    got = crossings(actual, more, modalities, KNOWN, RULES)
    assert [(c.threshold, c.basis) for c in got] == want


def test_thresholds_and_the_period_come_from_the_rules() -> None:
    rules = Rules(gpai_flop=1e22, notify_days=7)
    (got,) = crossings(2e22, 0, {"text"}, KNOWN, rules)
    assert got.limit == 1e22 and got.due_on == date(2026, 12, 15)


# --- invariants --------------------------------------------------------------------------

flops = st.floats(min_value=0, max_value=1e26, allow_nan=False)


@given(st.lists(flops, min_size=1, max_size=6), st.booleans())
def test_cumulative_compute_is_the_sum_of_the_same_providers_chain(
    own: list[float], foreign_top: bool
) -> None:
    node: Version | None = None
    for i, f in enumerate(own):
        node = Version(f"v{i}", "org-a", f, base=node)
    assert node is not None
    if foreign_top:
        node = Version("mod", "org-b", 1.0, base=node)
        got = cumulative(node, RULES)
        assert got.flop == 1.0 and got.base_flop == pytest.approx(sum(own))
    else:
        assert cumulative(node, RULES).flop == pytest.approx(sum(own))


@given(
    st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=20),
    st.floats(min_value=0.01, max_value=1.0),
)
def test_a_ledger_is_the_sum_of_its_jobs_and_grows_with_each(
    seconds: list[int], utilisation: float
) -> None:
    uses = [JobUse(f"j{i}", s, s, 989.4, 700, 1.1, 160, utilisation) for i, s in enumerate(seconds)]
    got = ledger(uses, RULES)
    assert got.flop == pytest.approx(sum(hardware_flop(s, 989.4, utilisation) for s in seconds))
    assert got.gpu_seconds == sum(seconds)
    assert ledger(uses[:-1], RULES).flop <= got.flop
