"""The job spec users write (YAML or JSON) and its validation at the edge.

Rules that need the catalog (known accelerator models, a partition the job fits) are checked
by the jobs service; everything here holds without it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)

from aifactory.domain.access import WorkType
from aifactory.domain.arrays import ARRAY_FORMS, ArraySpec, parse_array
from aifactory.domain.data import DATASET_REF_FORMS, parse_ref
from aifactory.domain.dependencies import DEPENDENCY_FORMS, Dependency, parse_dependency
from aifactory.domain.jobs import JobStack, Objective
from aifactory.domain.models import Produces, Purpose
from aifactory.domain.names import document_name, document_non_blank, name_problem
from aifactory.domain.sbatch import ScriptError, ScriptReading, read_script
from aifactory.domain.sbatch.header import platform_options
from aifactory.domain.sbatch.values import MailType, mail_types
from aifactory.domain.walltime import WALLTIME_FORMS, WALLTIME_PATTERN, parse_walltime

RESERVED_ENV = ("AIF_JOB_ID", "AIF_DATASETS", "CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES")
# A shell variable name that the platform does not set itself; the same text is the schema's
# propertyNames pattern, so clients know the rule.
# Slurm reads SLURM_*, SBATCH_* and SALLOC_* from sbatch's environment as options: a job's env
# must not steer how the platform submits it.
RESERVED_ENV_PREFIXES = ("SLURM_", "SBATCH_", "SALLOC_", "AIF_DATASET_")
ENV_KEY_PATTERN = (
    "^(?!(?:"
    + "|".join(RESERVED_ENV)
    + ")$)(?!(?:"
    + "|".join(RESERVED_ENV_PREFIXES)
    + "))[A-Za-z_][A-Za-z0-9_]{0,127}$(?!\\n)"
)
_ENV_KEY = re.compile(ENV_KEY_PATTERN)
_NO_NUL = "^[^\\u0000]*$(?!\\n)"


def _document_env(schema: dict[str, Any]) -> None:
    schema["propertyNames"] = {"pattern": ENV_KEY_PATTERN}
    schema["additionalProperties"] = {"type": "string", "maxLength": 4096, "pattern": _NO_NUL}


def _document_walltime(schema: dict[str, Any]) -> None:
    schema.pop("anyOf", None)
    schema["anyOf"] = [
        {"type": "integer", "minimum": 1},
        {"type": "string", "pattern": WALLTIME_PATTERN},
        {"type": "null"},
    ]


def _no_text(value: object) -> object:
    """JSON integers only: pydantic would otherwise take "4" or true for 4 and 1."""
    if isinstance(value, str | bool):
        raise ValueError("must be a JSON integer")
    return value


JsonInt = Annotated[int, BeforeValidator(_no_text)]
_PER_UNIT_MEMORY = ("memory_gb_per_cpu", "memory_gb_per_accelerator")


class Resources(BaseModel):
    """What a job needs. The YAML form people write is per node (``accelerators_per_node``,
    ``cpus``, ``memory_gb``) over ``nodes``; the other fields say what a batch script's
    ``#SBATCH`` lines say (docs/jobs.md has the directive table) and are worked out per
    partition: ``nodes: null`` takes as few nodes as the job's totals need there,
    ``memory_gb: 0`` is all of a node's memory, ``walltime: null`` the partition's default
    time limit, ``exclusive`` whole nodes."""

    model_config = ConfigDict(extra="forbid")

    accelerator: str = Field(default="any", max_length=40, description="Model or 'any'.")
    accelerators_per_node: JsonInt | None = Field(
        default=1, ge=0, le=64, description="null with nodes: null and `accelerators`."
    )
    nodes: JsonInt | None = Field(
        default=1,
        ge=1,
        le=100_000,
        description="null: as many nodes of the partition as `accelerators` and `cpus_total` "
        "need (sbatch without -N).",
    )
    accelerators: JsonInt | None = Field(
        default=None, ge=0, le=1_000_000, description="The job's total, with nodes: null."
    )
    cpus: JsonInt | None = Field(
        default=1, ge=1, le=1024, description="CPU cores per node; null with `cpus_total`."
    )
    cpus_total: JsonInt | None = Field(
        default=None, ge=1, le=10_000_000, description="The job's total, with nodes: null."
    )
    memory_gb: JsonInt | None = Field(
        default=4,
        ge=0,
        le=65_536,
        description="Memory per node, GB; 0: all of it (--mem=0); null with a per-CPU or "
        "per-accelerator figure.",
    )
    memory_gb_per_cpu: float | None = Field(
        default=None, gt=0, le=65_536, description="Instead of memory_gb (--mem-per-cpu)."
    )
    memory_gb_per_accelerator: float | None = Field(
        default=None, gt=0, le=65_536, description="Instead of memory_gb (--mem-per-gpu)."
    )
    exclusive: StrictBool = Field(default=False, description="Whole nodes (--exclusive).")
    walltime: Annotated[
        int | str | None,
        Field(
            default="1h",
            validate_default=True,
            description=f"Seconds, or one of: {WALLTIME_FORMS}; null: the partition's default.",
            json_schema_extra=_document_walltime,
        ),
    ] = "1h"

    @field_validator("walltime", mode="before")
    @classmethod
    def _walltime(cls, value: object) -> int | None:
        if value is None:
            return None
        # YAML turns "yes"/"on" into true: a boolean is a typo, never one second.
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # JSON's 3600.0 is the integer 3600
        if (
            isinstance(value, bool)
            or not isinstance(value, int | str)
            or (isinstance(value, str) and value != value.strip())
        ):
            raise ValueError(f"{value!r} is not a walltime; use seconds or {WALLTIME_FORMS}")
        if isinstance(value, int):
            if value <= 0:
                raise ValueError("walltime must be positive")
            return value
        return parse_walltime(value)

    @model_validator(mode="before")
    @classmethod
    def _per_node_or_total(cls, data: Any) -> Any:
        """A total (or a per-CPU memory figure) given alone stands in for the per-node
        default, which becomes null: the stored spec reads back the same."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if data.get("nodes", 1) is None:
            if data.get("accelerators") is not None:
                data.setdefault("accelerators_per_node", None)
            if data.get("cpus_total") is not None:
                data.setdefault("cpus", None)
        if any(data.get(k) is not None for k in _PER_UNIT_MEMORY):
            data.setdefault("memory_gb", None)
        return data

    @model_validator(mode="after")
    def _one_form(self) -> Resources:
        if self.nodes is not None:
            for key in ("accelerators", "cpus_total"):
                if getattr(self, key) is not None:
                    raise ValueError(
                        f"{key} is the job's total and goes with nodes: null; with a node "
                        "count give the figures per node"
                    )
            for key in ("accelerators_per_node", "cpus"):
                if getattr(self, key) is None:
                    raise ValueError(f"{key} is needed with a node count")
        else:
            if self.accelerators_per_node is not None and self.accelerators is not None:
                raise ValueError("give accelerators (the total) or accelerators_per_node")
            if self.cpus is not None and self.cpus_total is not None:
                raise ValueError("give cpus_total or cpus (per node)")
        memory = [k for k in ("memory_gb", *_PER_UNIT_MEMORY) if getattr(self, k) is not None]
        if len(memory) != 1:
            raise ValueError(
                "give one of memory_gb, memory_gb_per_cpu or memory_gb_per_accelerator"
                + (f", not {' and '.join(memory)}" if memory else "")
            )
        return self

    @property
    def walltime_s(self) -> int | None:
        """Seconds; None: the partition's default time limit."""
        assert self.walltime is None or isinstance(self.walltime, int)
        return self.walltime

    @property
    def total_accelerators(self) -> int:
        """As asked, before any partition: per node times nodes, or the total (with
        nodes: null and a per-node figure, one node's worth)."""
        if self.accelerators is not None:
            return self.accelerators
        return (self.accelerators_per_node or 0) * (self.nodes or 1)


class Constraints(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sites: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=50)
    partitions: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list,
        max_length=50,
        description="Partition ids (as in #SBATCH -p); empty: any.",
    )
    countries: list[Annotated[str, Field(pattern=r"^[A-Z]{2}$")]] = Field(
        default_factory=list, max_length=50
    )
    qos: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="A Slurm QoS (as #SBATCH -q): the partitions' variant with that QoS.",
    )


def _document_one_of(schema: dict[str, Any]) -> None:
    schema["oneOf"] = [
        {"required": [key], "properties": {key: {"type": "string"}}} for key in ("run", "script")
    ]


class JobSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_document_one_of)

    name: str = Field(max_length=100, json_schema_extra=document_name)
    project: str = Field(max_length=64, description="Project id.")
    resources: Resources = Field(default_factory=Resources)
    run: str | None = Field(
        default=None,
        min_length=1,
        max_length=65_536,
        description="Command or script (sh). Give run or script.",
        json_schema_extra=document_non_blank,
    )
    script: str | None = Field(
        default=None,
        min_length=1,
        max_length=65_536,
        description=(
            "An existing Slurm batch script, run unchanged; its #SBATCH lines fill the "
            "resources, name and project not given. Give run or script."
        ),
        json_schema_extra=document_non_blank,
    )
    env: dict[str, Annotated[str, Field(max_length=4096)]] = Field(
        default_factory=dict, max_length=200, json_schema_extra=_document_env
    )
    software_stack: JobStack | None = Field(
        default=None,
        description=(
            "What the job's code is built for; null: what its script or command shows it "
            "needs (modules, containers, tools), else whatever its partition serves."
        ),
    )
    constraints: Constraints = Field(default_factory=Constraints)
    objective: Objective = Field(
        default=Objective.BALANCED,
        description=(
            "fastest: earliest completion; greenest: least carbon; balanced: both, weighed."
        ),
    )
    work: WorkType = Field(
        default=WorkType.TRAINING,
        description="The AI work the job does; inference counts against a call's share limit.",
    )
    simulate: StrictBool = Field(
        default=False, description="May run on a digital twin (simulated; runs no code)."
    )
    experimental: StrictBool = Field(
        default=False,
        description="Built for an experimental platform: runs only at sites that host one.",
    )
    preemptible: StrictBool = Field(
        default=False,
        description=(
            "A Playground job that may be stopped (cancelled) for a higher-priority job on "
            "partitions where preemption is on."
        ),
    )
    array: str | None = Field(
        default=None,
        max_length=2000,
        description=f"A job array (as sbatch --array): {ARRAY_FORMS}, e.g. 0-9%2.",
    )
    dependency: str | None = Field(
        default=None,
        max_length=2000,
        description=(
            f"Start after other platform jobs (as sbatch --dependency): {DEPENDENCY_FORMS}."
        ),
    )
    kill_on_invalid_dep: StrictBool = Field(
        default=True,
        description=(
            "A job whose dependency can never be satisfied is cancelled (true) or waits "
            "(false), as sbatch --kill-on-invalid-dep."
        ),
    )
    mail_type: list[MailType] = Field(
        default_factory=list,
        max_length=20,
        description="Mail on these events (as sbatch --mail-type; ALL and NONE allowed).",
    )
    mail_user: str | None = Field(
        default=None,
        max_length=254,
        description="Who gets the mail: you (default) or a member of the job's organisation.",
    )
    datasets: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list,
        max_length=50,
        description=(
            f"Dataset versions the job reads ({DATASET_REF_FORMS}; as #AIF --dataset): it runs "
            "only where every one's residency policy allows, with AIF_DATASET_<NAME> naming "
            "each one's folder."
        ),
    )
    produces: Produces | None = Field(
        default=None,
        description=(
            "The registered model version the job trains or works on: its compute, energy "
            "and carbon go to that version's ledger (the AI Act's record)."
        ),
    )
    purpose: Purpose | None = Field(
        default=None,
        description=(
            "What the job does to the model it produces (null: from work). Pre-training, "
            "fine-tuning and synthetic data count as training compute."
        ),
    )
    utilisation: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description=(
            "The measured share of the accelerators' peak the job reached, in (0, 1]; "
            "null: the compliance rules' default (0.4)."
        ),
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        problem = name_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="before")
    @classmethod
    def _from_script(cls, data: Any) -> Any:
        """#SBATCH directives fill what the spec leaves out (the spec's own values win)."""
        if not isinstance(data, dict) or not isinstance(data.get("script"), str):
            return data
        if "\x00" in data["script"]:
            return data  # refused by the field check, with its name
        try:
            reading = read_script(data["script"])
            derived = reading.resources()
        except ScriptError:
            return data  # refused by the field check, naming the line and the option
        data = dict(data)
        for key, value in (
            ("name", reading.name),
            ("project", reading.account),
            ("array", reading.array.text if reading.array else None),
            ("dependency", reading.dependency.text if reading.dependency else None),
            ("kill_on_invalid_dep", reading.kill_on_invalid_dep),
            ("mail_user", reading.mail_user),
        ):
            if value is not None:
                data.setdefault(key, value)
        if reading.mail_types is not None:
            data.setdefault("mail_type", [m.value for m in reading.mail_types])
        try:
            named = [v for _, k, v in platform_options(data["script"]) if k == "dataset"]
        except ScriptError:
            named = []  # refused by the field check
        if named:
            data.setdefault("datasets", named)
        res = data.get("resources")
        if isinstance(res, dict) or res is None:
            res = dict(res or {})
            for key, value in derived.items():
                res.setdefault(key, value)
            data["resources"] = res
        cons = data.get("constraints")
        if (reading.partitions or reading.qos) and (cons is None or isinstance(cons, dict)):
            cons = dict(cons or {})
            if reading.partitions:
                cons.setdefault("partitions", list(reading.partitions))
            if reading.qos:
                cons.setdefault("qos", reading.qos)
            data["constraints"] = cons
        return data

    @model_validator(mode="after")
    def _run_or_script(self) -> JobSpec:
        if (self.run is None) == (self.script is None):
            raise ValueError("give exactly one of run (a command) or script (a batch script)")
        return self

    @field_validator("script")
    @classmethod
    def _script(cls, value: str | None) -> str | None:
        if value is None or "\x00" in value:
            return value  # NUL: refused by _run, below
        try:
            read_script(value).resources()
            platform_options(value)
        except ScriptError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("datasets")
    @classmethod
    def _datasets(cls, value: list[str]) -> list[str]:
        for item in value:
            parse_ref(item)
        return value

    @field_validator("array")
    @classmethod
    def _array(cls, value: str | None) -> str | None:
        if value is not None:
            parse_array(value)
        return value

    @field_validator("dependency")
    @classmethod
    def _dependency(cls, value: str | None) -> str | None:
        if value is not None:
            parse_dependency(value)
        return value

    @field_validator("mail_type", mode="before")
    @classmethod
    def _mail_type(cls, value: object) -> object:
        """Slurm's words in a list or one comma-separated string; ALL and NONE expand."""
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list) and all(isinstance(x, str) for x in value):
            return [m.value for m in mail_types(",".join(value))] if value else []
        return value

    @property
    def array_spec(self) -> ArraySpec | None:
        return parse_array(self.array) if self.array is not None else None

    @property
    def dependency_spec(self) -> Dependency | None:
        return parse_dependency(self.dependency) if self.dependency is not None else None

    def reading(self) -> ScriptReading | None:
        """The batch script's reading (None for a run: command)."""
        return read_script(self.script) if self.script is not None else None

    @field_validator("run", "script")
    @classmethod
    def _run(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.strip():
            raise ValueError("must not be empty")
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for key, val in value.items():
            if key in RESERVED_ENV:
                raise ValueError(f"{key} is set by the platform")
            if key.startswith(RESERVED_ENV_PREFIXES):
                raise ValueError(
                    f"{key}: variables starting with {', '.join(RESERVED_ENV_PREFIXES)} are "
                    "Slurm's own; give resources in the spec or #SBATCH lines"
                )
            if not _ENV_KEY.match(key):
                raise ValueError(f"{key!r} is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)")
            if "\x00" in val:
                raise ValueError(f"{key}: value must not contain NUL characters")
        return value
