"""The federation catalog: the packaged default, inheritance, and every refusal's message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from aifactory.catalog.loader import CatalogError, load_catalog, parse_catalog
from aifactory.domain.catalog import ExecutorKind, SiteStatus, SoftwareStack
from aifactory.domain.walltime import format_walltime, parse_walltime

# --- the default federation ----------------------------------------------------------------


def test_default_has_the_seven_factories_and_this_machine() -> None:
    catalog = load_catalog()
    assert [s.id for s in catalog.sites] == [
        "lumi",
        "hlrs",
        "daedalus",
        "leonardo",
        "meluxina",
        "marenostrum5",
        "mimer",
        "local",
    ]
    names = {s.id: s.name for s in catalog.sites}
    assert names["lumi"] == "LUMI AI Factory"
    assert names["hlrs"] == "HammerHAI"
    assert names["daedalus"] == "Pharos"
    assert names["leonardo"] == "IT4LIA"
    assert names["meluxina"] == "L-AI Factory"
    assert names["marenostrum5"] == "BSC AI Factory"
    assert names["mimer"] == "MIMER"


@pytest.mark.parametrize(
    ("site", "partition", "model", "per_node", "nodes", "walltime_h", "country", "grid"),
    [
        ("lumi", "standard-g", "MI250X-GCD", 8, 2978, 48, "FI", 80),
        ("hlrs", "hunter-apu", "MI300A", 4, 188, 48, "DE", 380),
        ("daedalus", "gpu", "GH200", 4, 64, 48, "GR", 330),
        ("leonardo", "boost_usr_prod", "A100", 4, 3456, 24, "IT", 290),
        ("meluxina", "gpu", "A100", 4, 200, 48, "LU", 100),
        ("marenostrum5", "acc", "H100", 4, 1120, 72, "ES", 160),
        ("mimer", "arrhenius", "GH200", 4, 382, 48, "SE", 40),
    ],
)
def test_default_systems_match_the_reference(
    site: str,
    partition: str,
    model: str,
    per_node: int,
    nodes: int,
    walltime_h: int,
    country: str,
    grid: float,
) -> None:
    catalog = load_catalog()
    s = catalog.site(site)
    p = s.partition(partition)
    assert (p.accelerator, p.accelerators_per_node, p.nodes) == (model, per_node, nodes)
    assert p.max_walltime_s == walltime_h * 3600
    assert s.country == country
    assert p.grid_gco2e_per_kwh == grid
    assert p.pue == 1.1  # none of the seven publishes one we use: the reference's rule
    assert p.executor is ExecutorKind.SIMULATED and p.is_simulated
    # Figures a partition does not state come from its accelerator entry.
    acc = catalog.accelerator(model)
    assert p.peak_bf16_tflops == acc.peak_bf16_tflops
    assert p.power_w == acc.power_w
    assert p.software_stacks == frozenset({acc.software_stack})


def test_default_spot_checks() -> None:
    catalog = load_catalog()
    gcd = catalog.accelerator("MI250X-GCD")
    assert (gcd.peak_bf16_tflops, gcd.power_w) == (383 / 2, 500 / 2)
    assert gcd.software_stack is SoftwareStack.ROCM
    assert catalog.accelerator("H100").peak_bf16_tflops == 989.4
    assert catalog.accelerator("MI355X").peak_bf16_tflops == 2516.6
    assert catalog.site("lumi").partition("standard-g").total_accelerators == 2978 * 8
    assert catalog.accelerator_memory_gb(catalog.site("leonardo").partitions[0]) == 64
    assert catalog.accelerator_memory_gb(catalog.site("meluxina").partitions[0]) == 40
    assert catalog.accelerator_memory_gb(catalog.site("marenostrum5").partitions[0]) == 64
    assert {s.id for s in catalog.sites if s.experimental} == {"lumi", "marenostrum5"}
    budgets = {s.id: s.budget_eur for s in catalog.sites}
    assert budgets["lumi"] == 556_000_000
    assert budgets["leonardo"] == 430_000_000
    assert budgets["daedalus"] == 30_000_000
    assert budgets["mimer"] is None
    daedalus = catalog.site("daedalus")
    assert daedalus.status is SiteStatus.PLANNED and not daedalus.is_operational
    assert daedalus.available_from == date(2027, 1, 1)
    assert "assumed" in daedalus.notes
    assert catalog.site("mimer").operator == "NAISS / Linköping University"
    models = catalog.accelerator_models()
    assert models == sorted(models)
    for m in ["A100", "H100", "H200", "GH200", "B200", "GB200", "MI250X-GCD", "MI300A"]:
        assert m in models
    assert {"MI300X", "MI355X", "local-slot"} <= set(models)
    site, largest = catalog.largest_partition()
    assert (site.id, largest.id) == ("lumi", "standard-g")
    assert catalog.max_accelerators_per_node() == 8
    assert catalog.max_nodes() == 3456
    assert catalog.max_walltime_s() == 4 * 86400  # Leonardo's boost_qos_lprod
    operational = {s.id for s, _ in catalog.partitions(operational_only=True)}
    assert "daedalus" not in operational and "lumi" in operational
    assert all(s.located for s in catalog.sites if s.id != "local")
    assert not catalog.site("local").located  # this machine: listed, not drawn
    lumi, bsc = catalog.site("lumi"), catalog.site("marenostrum5")
    assert (round(lumi.latitude or 0), round(lumi.longitude or 0)) == (64, 28)  # Kajaani
    assert (round(bsc.latitude or 0), round(bsc.longitude or 0)) == (41, 2)  # Barcelona


# (site, partition, Slurm partition, QoS, max nodes per job, min, walltime h, shared, draws on)
REAL_PARTITIONS = [
    ("lumi", "standard-g", "standard-g", None, 1024, 1, 48, False, "standard-g"),
    ("lumi", "small-g", "small-g", None, 4, 1, 72, True, "standard-g"),
    ("lumi", "dev-g", "dev-g", None, 32, 1, 3, True, "standard-g"),
    ("leonardo", "boost_usr_prod", "boost_usr_prod", None, 64, 1, 24, True, "boost_usr_prod"),
    (
        "leonardo",
        "boost_qos_dbg",
        "boost_usr_prod",
        "boost_qos_dbg",
        2,
        1,
        0.5,
        True,
        "boost_usr_prod",
    ),
    (
        "leonardo",
        "boost_qos_bprod",
        "boost_usr_prod",
        "boost_qos_bprod",
        256,
        65,
        24,
        True,
        "boost_usr_prod",
    ),
    (
        "leonardo",
        "boost_qos_lprod",
        "boost_usr_prod",
        "boost_qos_lprod",
        3,
        1,
        96,
        True,
        "boost_usr_prod",
    ),
    ("meluxina", "gpu", "gpu", "default", 200, 1, 48, True, "gpu"),
    ("marenostrum5", "acc", "acc", "acc_ehpc", 100, 1, 72, True, "acc"),
    ("marenostrum5", "acc_debug", "acc", "acc_debug", 8, 1, 2, True, "acc"),
]


@pytest.mark.parametrize(
    ("site", "pid", "slurm", "qos", "most", "least", "hours", "shared", "draws_on"),
    REAL_PARTITIONS,
    ids=[f"{r[0]}/{r[1]}" for r in REAL_PARTITIONS],
)
def test_the_systems_real_partitions_and_their_limits(
    site: str,
    pid: str,
    slurm: str,
    qos: str | None,
    most: int,
    least: int,
    hours: float,
    shared: bool,
    draws_on: str,
) -> None:
    """Each partition (or QoS variant) as the site's user documentation lists it."""
    p = load_catalog().site(site).partition(pid)
    assert (p.slurm_name, p.qos) == (slurm, qos)
    assert (p.job_max_nodes, p.min_nodes_per_job) == (most, least)
    assert p.max_walltime_s == hours * 3600
    assert (p.shared, p.allocation_partition) == (shared, draws_on)


@pytest.mark.parametrize("slots", [1, 4, 7])
def test_local_partition_takes_its_slots_from_the_argument(slots: int) -> None:
    local = load_catalog(local_slots=slots).site("local")
    (p,) = local.partitions
    assert (p.accelerators_per_node, p.nodes, p.total_accelerators) == (slots, 1, slots)
    assert p.executor is ExecutorKind.LOCAL and p.is_local and not p.is_simulated
    assert p.software_stacks == {SoftwareStack.CUDA, SoftwareStack.ROCM}
    assert (p.pue, p.max_walltime_s, p.accelerator) == (1.0, 24 * 3600, "local-slot")


def test_local_slots_must_be_positive() -> None:
    with pytest.raises(ValueError, match="local_slots"):
        load_catalog(local_slots=0)


def test_a_copy_of_the_default_loads_from_a_path(tmp_path: Path) -> None:
    copy = tmp_path / "federation.yaml"
    copy.write_text(
        (Path(__file__).parents[2] / "src/aifactory/catalog/default.yaml").read_text("utf-8"),
        encoding="utf-8",
    )
    assert load_catalog(copy) == load_catalog()


def test_lookups_name_what_exists() -> None:
    catalog = load_catalog()
    with pytest.raises(KeyError, match="known sites: lumi, hlrs"):
        catalog.site("nowhere")
    with pytest.raises(KeyError, match="it has: standard-g, small-g, dev-g"):
        catalog.site("lumi").partition("large-g")
    with pytest.raises(KeyError, match="known models: A100, B200"):
        catalog.accelerator("V100")


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(CatalogError, match=r"nope\.yaml: cannot read"):
        load_catalog(missing)


# --- a small catalog to break, one line at a time -----------------------------------------

BASE = """\
accelerators:
  A100:
    peak_bf16_tflops: 312
    memory_gb: 80
    power_w: 400
    software_stack: cuda
  MI300A:
    peak_bf16_tflops: 980.6
    memory_gb: 128
    power_w: 550
    software_stack: rocm
  slot:
    peak_bf16_tflops: 1
    memory_gb: 1
    power_w: 10
    software_stack: cuda
sites:
  - id: alpha
    name: Alpha Factory
    city: Bologna
    country: IT
    operator: CINECA
    status: operational
    pue: 1.2
    grid_gco2e_per_kwh: 290
    partitions:
      - id: booster
        name: Booster
        accelerator: A100
        accelerators_per_node: 4
        nodes: 10
        cpus_per_node: 32
        memory_gb_per_node: 512
        max_walltime: 24h
        executor: simulated
      - id: apu
        name: APU
        accelerator: MI300A
        accelerators_per_node: 4
        nodes: 2
        cpus_per_node: 96
        memory_gb_per_node: 512
        max_walltime: 2-00:00:00
        software_stack: [rocm, cuda]
        pue: 1.05
        peak_bf16_tflops: 900
        executor: simulated
    latitude: 44.52
    longitude: 11.36
  - id: beta
    name: Beta
    city: Oslo
    country: NO
    latitude: 59.91
    longitude: 10.75
    operator: Sigma2
    status: planned
    available_from: 2027-06-01
    budget_eur: null
    partitions:
      - id: gpu
        name: GPU
        accelerator: A100
        accelerators_per_node: 8
        nodes: 1
        cpus_per_node: 64
        memory_gb_per_node: 1024
        max_walltime: "36:00:00"
        pue: 1.3
        grid_gco2e_per_kwh: 30
        executor: slurm
  - id: here
    name: This machine
    city: Here
    country: LU
    operator: me
    status: operational
    pue: 1.0
    grid_gco2e_per_kwh: 100
    partitions:
      - id: local
        name: Local
        accelerator: slot
        accelerators_per_node: auto
        cpus_per_node: 4
        memory_gb_per_node: 8
        max_walltime: 30m
        executor: local
"""


def test_the_small_catalog_loads_and_inherits(tmp_path: Path) -> None:
    path = tmp_path / "small.yaml"
    path.write_text(BASE, encoding="utf-8")
    catalog = load_catalog(path, local_slots=3)
    alpha = catalog.site("alpha")
    booster, apu = alpha.partitions
    # From the accelerator entry.
    assert (booster.peak_bf16_tflops, booster.power_w) == (312, 400)
    assert booster.software_stacks == {SoftwareStack.CUDA}
    assert booster.accelerator_memory_gb == 80
    # From the site, unless the partition says otherwise.
    assert (booster.pue, booster.grid_gco2e_per_kwh) == (1.2, 290)
    assert (apu.pue, apu.grid_gco2e_per_kwh) == (1.05, 290)
    assert apu.peak_bf16_tflops == 900 and apu.power_w == 550
    assert apu.software_stacks == {SoftwareStack.ROCM, SoftwareStack.CUDA}
    assert apu.max_walltime_s == 2 * 86400
    beta = catalog.site("beta")
    assert beta.country == "NO"  # YAML 1.1 would have read a plain NO as false
    assert beta.budget_eur is None and beta.available_from == date(2027, 6, 1)
    assert beta.partitions[0].max_walltime_s == 36 * 3600
    assert beta.partitions[0].executor is ExecutorKind.SLURM
    assert alpha.budget_eur is None and not alpha.experimental and alpha.notes == ""
    local = catalog.site("here").partitions[0]
    assert (local.accelerators_per_node, local.nodes, local.max_walltime_s) == (3, 1, 1800)


@dataclass(frozen=True)
class Bad:
    """One break of BASE: ``edits`` are (old, new) replacements of the first occurrence.

    The line the error must point at carries the marker ``#!`` in the edited text.
    """

    edits: tuple[tuple[str, str], ...]
    field: str
    says: tuple[str, ...]


def _booster(lines: tuple[str, ...], field: str, says: str) -> Bad:
    """A break of the first partition: ``lines`` added after its max_walltime."""
    added = "".join(f"        {line}\n" for line in lines)
    return Bad(
        (("        max_walltime: 24h\n", f"        max_walltime: 24h\n{added}"),),
        f"sites[0].partitions[0].{field}",
        (says,),
    )


BAD = {
    "unknown executor": Bad(
        (("executor: simulated", "executor: slurmm  #!"),),
        "sites[0].partitions[0].executor",
        ("'slurmm' is not one of local, simulated, slurm",),
    ),
    "unknown accelerator": Bad(
        (("accelerator: A100", "accelerator: V100  #!"),),
        "sites[0].partitions[0].accelerator",
        ("'V100' is not defined in the accelerators section", "defined: A100, MI300A, slot"),
    ),
    "missing required site field": Bad(
        (("  - id: alpha\n", "  - id: alpha  #!\n"), ("    operator: CINECA\n", "")),
        "sites[0].operator",
        ("required field is missing", "required here: id, name, city, country, operator"),
    ),
    "missing partition count": Bad(
        (("      - id: booster\n", "      - id: booster  #!\n"), ("        nodes: 10\n", "")),
        "sites[0].partitions[0].nodes",
        ("required field is missing", "positive integer"),
    ),
    "missing energy figure": Bad(
        (("    pue: 1.2\n", ""), ("      - id: booster\n", "      - id: booster  #!\n")),
        "sites[0].partitions[0].pue",
        ("required field is missing", "on the partition or on its site"),
    ),
    "unknown site field": Bad(
        (("    operator: CINECA\n", "    operator: CINECA\n    colour: blue  #!\n"),),
        "sites[0].colour",
        ("unknown field", "allowed fields: available_from, budget_eur, city, country"),
    ),
    "unknown accelerator field": Bad(
        (("    power_w: 400\n", "    power_w: 400\n    tdp: 400  #!\n"),),
        "accelerators.A100.tdp",
        ("unknown field", "allowed fields: description, memory_gb, peak_bf16_tflops, power_w"),
    ),
    "unknown top-level field": Bad(
        (("sites:\n", "version: 2  #!\nsites:\n"),),
        "version",
        ("unknown field", "allowed fields: accelerators, sites"),
    ),
    "duplicate site id": Bad(
        (("  - id: beta", "  - id: alpha  #!"),),
        "sites[1].id",
        ("duplicate site id 'alpha' (first at line 18)",),
    ),
    "duplicate partition id": Bad(
        (("      - id: apu", "      - id: booster  #!"),),
        "sites[0].partitions[1].id",
        ("duplicate partition id 'booster' in site 'alpha' (first at line 27)",),
    ),
    "repeated key": Bad(
        (("        nodes: 10\n", "        nodes: 10\n        nodes: 12  #!\n"),),
        "sites[0].partitions[0].nodes",
        ("repeated (first at line 31)",),
    ),
    "bad country": Bad(
        (("country: IT", "country: XX  #!"),),
        "sites[0].country",
        ("'XX' is not an allowed ISO 3166-1 alpha-2 country code", "allowed: AL, AT, BA, BE"),
    ),
    "EL for Greece": Bad(
        (("country: IT", "country: EL  #!"),),
        "sites[0].country",
        ("Greece is GR", "allowed: "),
    ),
    "lower-case country": Bad(
        (("country: IT", "country: it  #!"),),
        "sites[0].country",
        ("'it' must be upper case: 'IT'",),
    ),
    "planned without available_from": Bad(
        (
            ("    status: planned\n", "    status: planned  #!\n"),
            ("    available_from: 2027-06-01\n", ""),
        ),
        "sites[1].available_from",
        ("required when status is planned", "YYYY-MM-DD"),
    ),
    "bad date": Bad(
        (("available_from: 2027-06-01", "available_from: next year  #!"),),
        "sites[1].available_from",
        ("must be a date YYYY-MM-DD", "'next year'"),
    ),
    "bad status": Bad(
        (("status: operational", "status: running  #!"),),
        "sites[0].status",
        ("'running' is not one of operational, planned",),
    ),
    "negative nodes": Bad(
        (("nodes: 10", "nodes: -3  #!"),),
        "sites[0].partitions[0].nodes",
        ("must be an integer of at least 1, got -3",),
    ),
    "zero accelerators per node": Bad(
        (("accelerators_per_node: 4", "accelerators_per_node: 0  #!"),),
        "sites[0].partitions[0].accelerators_per_node",
        ("must be an integer of at least 1, got 0",),
    ),
    "non-integer cpus": Bad(
        (("cpus_per_node: 32", "cpus_per_node: many  #!"),),
        "sites[0].partitions[0].cpus_per_node",
        ("must be an integer of at least 1, got 'many'",),
    ),
    "negative peak": Bad(
        (("    peak_bf16_tflops: 312", "    peak_bf16_tflops: -1  #!"),),
        "accelerators.A100.peak_bf16_tflops",
        ("must be a number greater than 0, got -1",),
    ),
    "pue below one": Bad(
        (("    pue: 1.2", "    pue: 0.9  #!"),),
        "sites[0].pue",
        ("must be a number at least 1, got 0.9",),
    ),
    "negative budget": Bad(
        (("    budget_eur: null", "    budget_eur: -5  #!"),),
        "sites[1].budget_eur",
        ("must be an integer of at least 0, got -5",),
    ),
    "bad walltime": Bad(
        (("max_walltime: 24h", "max_walltime: 24 hours  #!"),),
        "sites[0].partitions[0].max_walltime",
        ("'24 hours' is not a walltime", "48h, 30m, 2d, 1d12h, 1-00:00:00, HH:MM:SS"),
    ),
    "ambiguous walltime": Bad(
        (("max_walltime: 24h", "max_walltime: '24:00'  #!"),),
        "sites[0].partitions[0].max_walltime",
        ("'24:00' is not a walltime", "HH:MM:SS"),
    ),
    "unknown software stack": Bad(
        (("software_stack: [rocm, cuda]", "software_stack: [rocm, oneapi]  #!"),),
        "sites[0].partitions[1].software_stack[1]",
        ("'oneapi' is not one of cuda, rocm",),
    ),
    "auto outside the local partition": Bad(
        (("accelerators_per_node: 4", "accelerators_per_node: auto  #!"),),
        "sites[0].partitions[0].accelerators_per_node",
        ("'auto' is only for the executor local partition",),
    ),
    "local partition with fixed slots": Bad(
        (("accelerators_per_node: auto", "accelerators_per_node: 2  #!"),),
        "sites[2].partitions[0].accelerators_per_node",
        ("local_slots setting", "write auto"),
    ),
    "two local partitions": Bad(
        (
            ("        executor: local\n", "        executor: local  #!\n"),
            ("accelerators_per_node: 8", "accelerators_per_node: auto"),
            ("executor: slurm\n", "executor: local\n"),
        ),
        "sites[2].partitions[0].executor",
        ("only one partition may be local (the first is at line 61)",),
    ),
    "more nodes per job than the partition has": _booster(
        ("max_nodes_per_job: 11  #!",),
        "max_nodes_per_job",
        "11 is more than the partition's 10 nodes",
    ),
    "min nodes above max": _booster(
        (
            "max_nodes_per_job: 4",
            "min_nodes_per_job: 5  #!",
        ),
        "min_nodes_per_job",
        "5 is more than the 4 nodes a job may have",
    ),
    "default walltime above max": _booster(
        ("default_walltime: 25h  #!",),
        "default_walltime",
        "90000 s is longer than max_walltime (86400 s)",
    ),
    "shared not a boolean": _booster(
        ("shared: maybe  #!",), "shared", "must be true or false, got 'maybe'"
    ),
    "draws on an unknown partition": _booster(
        ("draws_on: nowhere  #!",), "draws_on", "'nowhere' is not another partition of site 'alpha'"
    ),
    "draws on itself": _booster(
        ("draws_on: booster  #!",), "draws_on", "partitions there: apu, booster"
    ),
    "a QoS that is no name": _booster(
        ("qos: 'a b'  #!",), "qos", "'a b' is not a name of letters, digits"
    ),
    "two entries for one Slurm partition and QoS": Bad(
        (
            (
                "        max_walltime: 2-00:00:00\n",
                "        max_walltime: 2-00:00:00\n        slurm_partition: booster  #!\n",
            ),
        ),
        "sites[0].partitions[1].qos",
        ("Slurm partition 'booster' without a QoS is already the entry 'booster'",),
    ),
    "bad site id": Bad(
        (("  - id: alpha", "  - id: Alpha  #!"),),
        "sites[0].id",
        ("'Alpha' is not a lower-case slug",),
    ),
    "latitude out of range": Bad(
        (("    latitude: 59.91\n", "    latitude: 95  #!\n"),),
        "sites[1].latitude",
        ("must be decimal degrees from -90 to 90, got 95",),
    ),
    "longitude not a number": Bad(
        (("    longitude: 10.75\n", "    longitude: east  #!\n"),),
        "sites[1].longitude",
        ("must be decimal degrees from -180 to 180, got 'east'",),
    ),
    "a real site without its place": Bad(
        (("    longitude: 10.75\n", ""), ("  - id: beta", "  - id: beta  #!")),
        "sites[1].longitude",
        ("required field is missing: the site's place in decimal degrees",),
    ),
}


def _apply(text: str, edits: tuple[tuple[str, str], ...]) -> str:
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def _marked_line(text: str) -> int:
    (line,) = [i for i, row in enumerate(text.splitlines(), start=1) if "#!" in row]
    return line


@pytest.mark.parametrize("case", list(BAD.values()), ids=list(BAD))
def test_bad_catalog_is_refused_naming_file_line_field_and_allowed(
    tmp_path: Path, case: Bad
) -> None:
    text = _apply(BASE, case.edits)
    path = tmp_path / "federation.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    message = str(caught.value)
    line = _marked_line(text)
    assert message.startswith(f"{path}:{line}: {case.field}: "), message
    for fragment in case.says:
        assert fragment in message, message
    err = caught.value
    assert (err.file, err.line, err.field) == (str(path), line, case.field)


def test_the_example_message_format() -> None:
    text = _apply(BASE, (("executor: simulated", "executor: slurmm"),))
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text, file="default.yaml")
    assert str(caught.value) == (
        "default.yaml:35: sites[0].partitions[0].executor: "
        "'slurmm' is not one of local, simulated, slurm"
    )


@pytest.mark.parametrize(
    ("edits", "line", "column", "says"),
    [
        ((("    city: Bologna\n", "    city: Bologna: Emilia\n"),), 20, 18, "mapping values"),
        ((("    name: Alpha Factory\n", "    name: [Alpha\n"),), 20, 9, "expected ',' or ']'"),
        ((("sites:\n", "sites: *nowhere\n"),), 17, 8, "undefined alias 'nowhere'"),
        ((("    pue: 1.2\n", "\tpue: 1.2\n"),), 24, 1, "'\\t'"),
    ],
    ids=["colon in value", "unclosed list", "undefined alias", "tab"],
)
def test_malformed_yaml_names_line_and_column(
    tmp_path: Path, edits: tuple[tuple[str, str], ...], line: int, column: int, says: str
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(_apply(BASE, edits), encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}:{column}: malformed YAML: "), message
    assert says in message


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "the file is empty"),
        ("- a\n- b\n", "must be a mapping, got a list"),
        ("a: 1\n---\nb: 2\n", "expected a single document"),
        ("accelerators: {}\nsites: []\n", "accelerators: must define at least one"),
        (
            "accelerators: {A: {peak_bf16_tflops: 1, memory_gb: 1, power_w: 1,"
            " software_stack: cuda}}\nsites: []\n",
            "sites: must not be empty",
        ),
        ("accelerators: []\nsites: []\n", "accelerators: must be a mapping, got a list"),
    ],
)
def test_not_a_catalog_at_all(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError, match=r"odd\.yaml") as caught:
        load_catalog(path)
    assert says in str(caught.value)


# --- walltimes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("48h", 172800),
        ("30m", 1800),
        ("2d", 172800),
        ("90s", 90),
        ("1d12h", 129600),
        ("1-00:00:00", 86400),
        ("2-12", 216000),
        ("0-01:30", 5400),
        ("48:00:00", 172800),
        ("00:00:01", 1),
        ("3600", 3600),
        (" 24h ", 86400),
    ],
)
def test_walltime_forms(text: str, seconds: int) -> None:
    assert parse_walltime(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "0", "0h", "24:00", "1-24:00:00", "1:60:00", "1.5h", "h", "-1", "٣"]
)
def test_walltime_refusals(text: str) -> None:
    with pytest.raises(ValueError):
        parse_walltime(text)


@given(st.integers(min_value=1, max_value=10**8))
def test_walltime_round_trips_through_slurm_form(seconds: int) -> None:
    assert parse_walltime(format_walltime(seconds)) == seconds


@given(
    st.integers(0, 400),
    st.integers(0, 100),
    st.integers(0, 1000),
    st.integers(0, 10_000),
)
def test_walltime_unit_form_round_trips(days: int, hours: int, minutes: int, secs: int) -> None:
    seconds = ((days * 24 + hours) * 60 + minutes) * 60 + secs
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    text = "".join(f"{n}{unit}" for n, unit in parts if n)
    assume(seconds > 0)
    assert parse_walltime(text) == seconds
    assert parse_walltime(str(seconds)) == seconds
