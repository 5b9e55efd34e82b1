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
from aifactory.domain.jobs import JobStack, Objective
from aifactory.domain.names import document_name, document_non_blank, name_problem
from aifactory.domain.sbatch import ScriptError, parse_script
from aifactory.domain.walltime import WALLTIME_FORMS, WALLTIME_PATTERN, parse_walltime

RESERVED_ENV = ("AIF_JOB_ID", "CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES")
# A shell variable name that the platform does not set itself; the same text is the schema's
# propertyNames pattern, so clients know the rule.
# Slurm reads SLURM_*, SBATCH_* and SALLOC_* from sbatch's environment as options: a job's env
# must not steer how the platform submits it.
RESERVED_ENV_PREFIXES = ("SLURM_", "SBATCH_", "SALLOC_")
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
    ]


def _no_text(value: object) -> object:
    """JSON integers only: pydantic would otherwise take "4" or true for 4 and 1."""
    if isinstance(value, str | bool):
        raise ValueError("must be a JSON integer")
    return value


JsonInt = Annotated[int, BeforeValidator(_no_text)]


class Resources(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accelerator: str = Field(default="any", max_length=40, description="Model or 'any'.")
    accelerators_per_node: JsonInt = Field(default=1, ge=0, le=64)
    nodes: JsonInt = Field(default=1, ge=1, le=100_000)
    cpus: JsonInt = Field(default=1, ge=1, le=1024, description="CPU cores per node.")
    memory_gb: JsonInt = Field(default=4, ge=1, le=65_536, description="Memory per node, GB.")
    walltime: Annotated[
        int | str,
        Field(
            default="1h",
            validate_default=True,
            description=f"Seconds, or one of: {WALLTIME_FORMS}.",
            json_schema_extra=_document_walltime,
        ),
    ] = "1h"

    @field_validator("walltime", mode="before")
    @classmethod
    def _walltime(cls, value: object) -> int:
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

    @property
    def walltime_s(self) -> int:
        assert isinstance(self.walltime, int)
        return self.walltime

    @property
    def total_accelerators(self) -> int:
        return self.accelerators_per_node * self.nodes


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
    software_stack: JobStack = JobStack.CUDA
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
            parsed = parse_script(data["script"])
        except ScriptError:
            return data  # refused by the field check, naming the line and the option
        data = dict(data)
        if parsed.name and "name" not in data:
            data["name"] = parsed.name
        if parsed.account and "project" not in data:
            data["project"] = parsed.account
        res = data.get("resources")
        res = dict(res) if isinstance(res, dict) else res
        if isinstance(res, dict) or res is None:
            res = res or {}
            for key, value in (
                ("accelerator", parsed.gpu_type),
                ("accelerators_per_node", parsed.gpus_per_node),
                ("nodes", parsed.nodes),
                ("cpus", parsed.cpus),
                ("memory_gb", parsed.memory_gb),
                ("walltime", parsed.walltime_s),
            ):
                if value is not None:
                    res.setdefault(key, value)
            if parsed.gpus_per_node is None:
                res.setdefault("accelerators_per_node", 0)
            data["resources"] = res
        cons = data.get("constraints")
        if parsed.partitions and (cons is None or isinstance(cons, dict)):
            cons = dict(cons or {})
            cons.setdefault("partitions", list(parsed.partitions))
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
            parsed = parse_script(value)
        except ScriptError as exc:
            raise ValueError(str(exc)) from None
        for d in parsed.unsupported:
            if d.option in ("-a", "--array"):
                # The platform follows one Slurm job per job; an array would be many.
                raise ValueError(f"line {d.line}: {d.option}: job arrays are not supported")
        return value

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
