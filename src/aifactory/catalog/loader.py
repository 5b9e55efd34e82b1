"""Load the federation catalog (YAML) into :class:`~aifactory.domain.catalog.Catalog`.

Strict: unknown fields, repeated keys or ids, undefined accelerator models, unknown countries
and impossible figures are refused with a :class:`CatalogError` naming the file, the line, the
field path and what is allowed. A catalog loads whole or not at all.

Inheritance, so that the YAML states each figure once:
- a partition without ``peak_bf16_tflops``, ``power_w``, ``software_stack`` or
  ``accelerator_memory_gb`` takes its accelerator entry's;
- a partition without ``pue`` or ``grid_gco2e_per_kwh`` takes its site's.
A site's ``latitude`` and ``longitude`` (degrees) place it on the federation map: both or
neither, and required unless every partition of the site is the local one (this machine).
The partition with ``executor: local`` is this machine: one node, and as many accelerator
slots as the ``local_slots`` setting says (``accelerators_per_node: auto``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path

import yaml

from aifactory.catalog.validate import CatalogError, Reader
from aifactory.domain.catalog import (
    Accelerator,
    Catalog,
    ExecutorKind,
    Partition,
    Site,
    SiteStatus,
    SoftwareStack,
)

__all__ = ["DEFAULT_CATALOG_NAME", "CatalogError", "load_catalog", "parse_catalog"]

DEFAULT_CATALOG_NAME = "default.yaml"

_SITE_ID = r"[a-z][a-z0-9-]*"
_SITE_ID_IS = "a lower-case slug (a-z, 0-9 and '-', starting with a letter)"
_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_NAME_IS = "a name of letters, digits, '.', '_' and '-'"

_ACCELERATOR_REQUIRED = ("peak_bf16_tflops", "memory_gb", "power_w", "software_stack")
_ACCELERATOR_OPTIONAL = ("description",)
_SITE_REQUIRED = ("id", "name", "city", "country", "operator", "status", "partitions")
_SITE_OPTIONAL = (
    "available_from",
    "experimental",
    "budget_eur",
    "notes",
    "pue",
    "grid_gco2e_per_kwh",
    "latitude",
    "longitude",
)
_PARTITION_REQUIRED = (
    "id",
    "name",
    "accelerator",
    "cpus_per_node",
    "memory_gb_per_node",
    "max_walltime",
    "executor",
)
# accelerators_per_node and nodes are required unless executor is local (checked by hand).
_PARTITION_OPTIONAL = (
    "accelerators_per_node",
    "nodes",
    "peak_bf16_tflops",
    "power_w",
    "software_stack",
    "accelerator_memory_gb",
    "pue",
    "grid_gco2e_per_kwh",
    "max_nodes_per_job",
    "min_nodes_per_job",
    "default_walltime",
    "shared",
    "slurm_partition",
    "qos",
    "draws_on",
)
_INHERITED_FROM_SITE = ("pue", "grid_gco2e_per_kwh")


def load_catalog(path: Path | None = None, *, local_slots: int = 4) -> Catalog:
    """The catalog at ``path``, or the packaged default federation when ``path`` is None."""
    if path is None:
        text = (
            resources.files("aifactory.catalog")
            .joinpath(DEFAULT_CATALOG_NAME)
            .read_text(encoding="utf-8")
        )
        return parse_catalog(text, file=DEFAULT_CATALOG_NAME, local_slots=local_slots)
    label = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogError(label, None, None, f"not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise CatalogError(label, None, None, f"cannot read: {exc.strerror or exc}") from exc
    return parse_catalog(text, file=label, local_slots=local_slots)


def parse_catalog(text: str, *, file: str = "<string>", local_slots: int = 4) -> Catalog:
    """The catalog in ``text``; ``file`` names it in error messages."""
    if local_slots < 1:
        raise ValueError(f"local_slots must be at least 1, got {local_slots}")
    return _Parser(Reader(file), local_slots).catalog(text)


@dataclass
class _Parser:
    r: Reader
    local_slots: int
    accelerators: dict[str, Accelerator] = field(default_factory=dict)
    local_line: int | None = None  # where the one executor-local partition was defined

    def catalog(self, text: str) -> Catalog:
        root = self.r.compose(text)
        top = self.r.mapping(root, "", required=("accelerators", "sites"))
        # Accelerators first, whatever the order in the file: partitions refer to them.
        self.accelerators = self._accelerators(top["accelerators"])
        first_line: dict[str, int] = {}  # site id -> line, to name the first of two
        sites = tuple(
            self._site(node, f"sites[{i}]", first_line)
            for i, node in enumerate(self.r.sequence(top["sites"], "sites"))
        )
        return Catalog(accelerators=self.accelerators, sites=sites)

    def _accelerators(self, node: yaml.Node) -> dict[str, Accelerator]:
        r = self.r
        pairs = r.pairs(node, "accelerators")
        if not pairs:
            r.fail(node, "accelerators", "must define at least one accelerator model")
        out: dict[str, Accelerator] = {}
        for model, key_node, value in pairs:
            path = f"accelerators.{model}"
            r.string(key_node, path, pattern=_NAME, expect=f"an accelerator model: {_NAME_IS}")
            f = r.mapping(
                value, path, required=_ACCELERATOR_REQUIRED, optional=_ACCELERATOR_OPTIONAL
            )
            out[model] = Accelerator(
                model=model,
                peak_bf16_tflops=r.number(f["peak_bf16_tflops"], f"{path}.peak_bf16_tflops"),
                memory_gb=r.number(f["memory_gb"], f"{path}.memory_gb"),
                power_w=r.number(f["power_w"], f"{path}.power_w"),
                software_stack=r.enum(f["software_stack"], f"{path}.software_stack", SoftwareStack),
                description=_optional_text(r, f, "description", path),
            )
        return out

    def _site(self, node: yaml.Node, path: str, first_line: dict[str, int]) -> Site:
        r = self.r
        f = r.mapping(node, path, required=_SITE_REQUIRED, optional=_SITE_OPTIONAL)
        site_id = r.string(f["id"], f"{path}.id", pattern=_SITE_ID, expect=_SITE_ID_IS)
        if site_id in first_line:
            r.fail(
                f["id"],
                f"{path}.id",
                f"duplicate site id {site_id!r} (first at line {first_line[site_id]}); "
                "site ids must be unique",
            )
        first_line[site_id] = _line(f["id"])
        status = r.enum(f["status"], f"{path}.status", SiteStatus)
        available_from: date | None = None
        if "available_from" in f:
            available_from = r.date(f["available_from"], f"{path}.available_from")
        if status is SiteStatus.PLANNED and available_from is None:
            r.fail(
                f["status"],
                f"{path}.available_from",
                "required when status is planned: the date the site enters service (YYYY-MM-DD)",
            )
        budget: int | None = None
        if "budget_eur" in f and f["budget_eur"].tag != "tag:yaml.org,2002:null":
            budget = r.integer(f["budget_eur"], f"{path}.budget_eur", minimum=0)
        inherited = {k: f[k] for k in _INHERITED_FROM_SITE if k in f}
        for key, value in inherited.items():
            self._energy_figure(key, value, f"{path}.{key}")  # checked here, on its own line
        name = r.string(f["name"], f"{path}.name")
        city = r.string(f["city"], f"{path}.city")
        country = r.country(f["country"], f"{path}.country")
        operator = r.string(f["operator"], f"{path}.operator")
        experimental = False
        if "experimental" in f:
            experimental = r.boolean(f["experimental"], f"{path}.experimental")
        notes = _optional_text(r, f, "notes", path)
        partition_line: dict[str, int] = {}
        pnodes = r.sequence(f["partitions"], f"{path}.partitions")
        partitions = tuple(
            self._partition(pnode, f"{path}.partitions[{i}]", inherited, site_id, partition_line)
            for i, pnode in enumerate(pnodes)
        )
        self._check_siblings(partitions, pnodes, f"{path}.partitions", site_id)
        latitude, longitude = self._location(node, f, path, partitions)
        return Site(
            id=site_id,
            name=name,
            city=city,
            country=country,
            operator=operator,
            status=status,
            available_from=available_from,
            experimental=experimental,
            budget_eur=budget,
            partitions=partitions,
            notes=notes,
            latitude=latitude,
            longitude=longitude,
        )

    def _location(
        self,
        node: yaml.Node,
        f: dict[str, yaml.Node],
        path: str,
        partitions: tuple[Partition, ...],
    ) -> tuple[float | None, float | None]:
        """The site's place in degrees; a real site must have one (the map shows it)."""
        r = self.r
        given = [k for k in ("latitude", "longitude") if k in f]
        if not given and all(p.is_local for p in partitions):
            return None, None
        for key in ("latitude", "longitude"):
            if key not in f:
                r.fail(
                    node,
                    f"{path}.{key}",
                    "required field is missing: the site's place in decimal degrees "
                    "(latitude -90..90, longitude -180..180, east positive)",
                )
        return (
            r.degrees(f["latitude"], f"{path}.latitude", 90.0),
            r.degrees(f["longitude"], f"{path}.longitude", 180.0),
        )

    def _partition(
        self,
        node: yaml.Node,
        path: str,
        site_figures: dict[str, yaml.Node],
        site_id: str,
        first_line: dict[str, int],
    ) -> Partition:
        r = self.r
        f = r.mapping(node, path, required=_PARTITION_REQUIRED, optional=_PARTITION_OPTIONAL)
        partition_id = r.string(f["id"], f"{path}.id", pattern=_NAME, expect=_NAME_IS)
        if partition_id in first_line:
            r.fail(
                f["id"],
                f"{path}.id",
                f"duplicate partition id {partition_id!r} in site {site_id!r} "
                f"(first at line {first_line[partition_id]})",
            )
        first_line[partition_id] = _line(f["id"])
        model = r.string(f["accelerator"], f"{path}.accelerator")
        if model not in self.accelerators:
            r.fail(
                f["accelerator"],
                f"{path}.accelerator",
                f"{model!r} is not defined in the accelerators section; "
                f"defined: {', '.join(sorted(self.accelerators))}",
            )
        acc = self.accelerators[model]
        executor = r.enum(f["executor"], f"{path}.executor", ExecutorKind)
        if executor is ExecutorKind.LOCAL:
            per_node, nodes = self._local_shape(node, f, path)
        else:
            per_node = self._count(node, f, "accelerators_per_node", path)
            nodes = self._count(node, f, "nodes", path)

        def inherit(key: str, default: float) -> float:
            if key not in f:
                return default
            return r.number(f[key], f"{path}.{key}")

        energy: dict[str, float] = {}
        for key in _INHERITED_FROM_SITE:
            value = f.get(key, site_figures.get(key))
            if value is None:
                r.fail(
                    node,
                    f"{path}.{key}",
                    "required field is missing; give it on the partition or on its site",
                )
            energy[key] = self._energy_figure(key, value, f"{path}.{key}")
        stacks = frozenset({acc.software_stack})
        if "software_stack" in f:
            stacks = r.enum_set(f["software_stack"], f"{path}.software_stack", SoftwareStack)
        limits = self._limits(f, path, nodes)
        max_walltime = r.walltime(f["max_walltime"], f"{path}.max_walltime")
        default_walltime = None
        if "default_walltime" in f:
            default_walltime = r.walltime(f["default_walltime"], f"{path}.default_walltime")
            if default_walltime > max_walltime:
                r.fail(
                    f["default_walltime"],
                    f"{path}.default_walltime",
                    f"{default_walltime} s is longer than max_walltime ({max_walltime} s)",
                )
        names: dict[str, str | None] = {}
        for key in ("slurm_partition", "qos", "draws_on"):
            names[key] = (
                r.string(f[key], f"{path}.{key}", pattern=_NAME, expect=_NAME_IS)
                if key in f and f[key].tag != "tag:yaml.org,2002:null"
                else None
            )
        return Partition(
            id=partition_id,
            name=r.string(f["name"], f"{path}.name"),
            accelerator=model,
            accelerators_per_node=per_node,
            nodes=nodes,
            cpus_per_node=r.integer(f["cpus_per_node"], f"{path}.cpus_per_node"),
            memory_gb_per_node=r.integer(f["memory_gb_per_node"], f"{path}.memory_gb_per_node"),
            peak_bf16_tflops=inherit("peak_bf16_tflops", acc.peak_bf16_tflops),
            power_w=inherit("power_w", acc.power_w),
            max_walltime_s=max_walltime,
            software_stacks=stacks,
            pue=energy["pue"],
            grid_gco2e_per_kwh=energy["grid_gco2e_per_kwh"],
            executor=executor,
            accelerator_memory_gb=inherit("accelerator_memory_gb", acc.memory_gb),
            max_nodes_per_job=limits[0],
            min_nodes_per_job=limits[1],
            default_walltime_s=default_walltime,
            shared=r.boolean(f["shared"], f"{path}.shared") if "shared" in f else True,
            slurm_partition=names["slurm_partition"],
            qos=names["qos"],
            draws_on=names["draws_on"],
        )

    def _limits(self, f: dict[str, yaml.Node], path: str, nodes: int) -> tuple[int | None, int]:
        """max_nodes_per_job (at most the partition's nodes) and min_nodes_per_job."""
        r = self.r
        most: int | None = None
        if "max_nodes_per_job" in f:
            most = r.integer(f["max_nodes_per_job"], f"{path}.max_nodes_per_job")
            if most > nodes:
                r.fail(
                    f["max_nodes_per_job"],
                    f"{path}.max_nodes_per_job",
                    f"{most} is more than the partition's {nodes} nodes",
                )
        least = 1
        if "min_nodes_per_job" in f:
            least = r.integer(f["min_nodes_per_job"], f"{path}.min_nodes_per_job")
            if least > (most or nodes):
                r.fail(
                    f["min_nodes_per_job"],
                    f"{path}.min_nodes_per_job",
                    f"{least} is more than the {most or nodes} nodes a job may have",
                )
        return most, least

    def _check_siblings(
        self, partitions: tuple[Partition, ...], nodes: list[yaml.Node], path: str, site_id: str
    ) -> None:
        """draws_on names another partition of the site that draws on none itself; one
        (Slurm partition, QoS) pair per entry."""
        ids = {p.id for p in partitions}
        seen: dict[tuple[str, str | None], str] = {}
        for i, (p, node) in enumerate(zip(partitions, nodes, strict=True)):
            where = f"{path}[{i}]"
            if p.draws_on is not None:
                target = next((q for q in partitions if q.id == p.draws_on), None)
                if target is None or target.id == p.id or target.draws_on is not None:
                    self.r.fail(
                        _value_node(node, "draws_on"),
                        f"{where}.draws_on",
                        f"{p.draws_on!r} is not another partition of site {site_id!r} with "
                        f"allocations of its own; partitions there: {', '.join(sorted(ids))}",
                    )
            pair = (p.slurm_name, p.qos)
            if pair in seen:
                self.r.fail(
                    _value_node(node, "qos", "slurm_partition", "id"),
                    f"{where}.qos",
                    f"Slurm partition {p.slurm_name!r} "
                    + (f"with QoS {p.qos!r}" if p.qos else "without a QoS")
                    + f" is already the entry {seen[pair]!r}; give each QoS variant its own qos",
                )
            seen[pair] = p.id

    def _count(self, node: yaml.Node, f: dict[str, yaml.Node], key: str, path: str) -> int:
        if key not in f:
            self.r.fail(node, f"{path}.{key}", "required field is missing (a positive integer)")
        value = f[key]
        if isinstance(value, yaml.ScalarNode) and value.value == "auto":
            self.r.fail(value, f"{path}.{key}", "'auto' is only for the executor local partition")
        return self.r.integer(value, f"{path}.{key}")

    def _local_shape(self, node: yaml.Node, f: dict[str, yaml.Node], path: str) -> tuple[int, int]:
        """One node with ``local_slots`` slots; the YAML may only say so, never differ."""
        r = self.r
        if self.local_line is not None:
            r.fail(
                f["executor"],
                f"{path}.executor",
                f"only one partition may be local (the first is at line {self.local_line})",
            )
        self.local_line = _line(node)
        slots = f.get("accelerators_per_node")
        if slots is not None and not (isinstance(slots, yaml.ScalarNode) and slots.value == "auto"):
            r.fail(
                slots,
                f"{path}.accelerators_per_node",
                "a local partition takes its slots from the local_slots setting "
                "(AIF_LOCAL_SLOTS); write auto or leave the field out",
            )
        if "nodes" in f and r.integer(f["nodes"], f"{path}.nodes") != 1:
            r.fail(f["nodes"], f"{path}.nodes", "a local partition is this one machine: must be 1")
        return self.local_slots, 1

    def _energy_figure(self, key: str, node: yaml.Node, path: str) -> float:
        if key == "pue":  # a PUE below 1 would mean the building makes energy
            return self.r.number(node, path, minimum=1.0, inclusive=True)
        return self.r.number(node, path, minimum=0.0, inclusive=True)


def _optional_text(r: Reader, f: dict[str, yaml.Node], key: str, path: str) -> str:
    return r.string(f[key], f"{path}.{key}") if key in f else ""


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _value_node(node: yaml.Node, *keys: str) -> yaml.Node:
    """The value of the first of ``keys`` the mapping has (for the line an error names)."""
    if isinstance(node, yaml.MappingNode):
        for key in keys:
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == key and isinstance(v, yaml.Node):
                    return v
    return node
