"""How the platform reaches each site's Slurm: the site connection file.

An operator lists the sites that run real Slurm in a YAML file (``AIF_SLURM_SITES``)::

    lumi:
      transport: cli                 # Slurm commands, run here or on a login node over SSH
      cluster: lumi                  # ClusterName (sacct -M, sacctmgr cluster=)
      account: aifactory             # the platform's account tree lives below this one
      slurm_conf: /etc/slurm/slurm.conf
      ssh: aif@login.lumi.example    # optional
      ssh_options: [-p, "2222", -i, /etc/aifactory/lumi_ed25519]   # optional
      partitions: {standard-g: standard-g}   # catalog partition id -> Slurm partition
      gres: {standard-g: mi250x}     # catalog partition id -> GRES type (--gres=gpu:<type>:<n>)
      jobs_dir: /scratch/aif/jobs    # batch scripts and output, visible to the compute nodes
    leonardo:
      transport: rest                # slurmrestd; the OpenAPI version is read from the server
      cluster: leonardo
      rest_url: http://slurmrestd.leonardo.example:6820
      rest_user: aif
      token_file: /etc/aifactory/leonardo.jwt   # or token_command: [scontrol, token, ...]

Every partition of a connected site becomes a real Slurm partition (``executor: slurm``);
a site without a connection stays a digital twin.
"""

from __future__ import annotations

import getpass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

_SLURM_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
SlurmName = Annotated[str, Field(pattern=_SLURM_NAME)]


class Transport(StrEnum):
    CLI = "cli"
    REST = "rest"


class SiteConnection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    site: str = Field(default="", description="Catalog site id (the key of the file's mapping).")
    transport: Transport = Transport.CLI
    cluster: SlurmName
    account: SlurmName = Field(default="aifactory", description="Root of the platform's tree.")
    slurm_conf: Path | None = Field(default=None, description="SLURM_CONF for the commands.")
    bin_dir: Path | None = Field(default=None, description="Where the Slurm commands are.")
    ssh: str | None = Field(default=None, description="user@host of a login node.")
    ssh_options: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="More ssh arguments (-p PORT, -i KEY, -o UserKnownHostsFile=...).",
    )
    rest_url: str | None = None
    rest_user: str | None = None
    token_file: Path | None = None
    token_command: list[str] | None = None
    partitions: dict[str, SlurmName] = Field(default_factory=dict)
    gres: dict[str, SlurmName] = Field(default_factory=dict)
    user: SlurmName | None = Field(
        default=None, description="The Slurm user that submits (default: this process's user)."
    )
    jobs_dir: Path | None = Field(default=None, description="Default: the platform's jobs dir.")
    timeout_s: float = Field(default=20.0, gt=0, le=600)

    @model_validator(mode="after")
    def _transport_needs(self) -> SiteConnection:
        if self.transport is Transport.REST:
            if not self.rest_url:
                raise ValueError("rest_url: required when transport is rest")
            if self.token_file is None and not self.token_command:
                raise ValueError("token_file or token_command: required when transport is rest")
        return self

    @property
    def submit_user(self) -> str:
        return self.user or self.rest_user or getpass.getuser()

    def slurm_partition(self, partition_id: str) -> str:
        return self.partitions.get(partition_id, partition_id)

    def gres_type(self, partition_id: str, accelerator: str) -> str:
        """The GRES type Slurm knows the partition's accelerators by."""
        return self.gres.get(partition_id) or accelerator.lower().split("-")[0]


class ConnectionError_(ValueError):
    """The site connection file is unreadable or wrong; the message names file and field."""


def load_connections(path: Path, known_sites: set[str]) -> dict[str, SiteConnection]:
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConnectionError_(f"{path}: {exc}") from None
    if not isinstance(raw, dict):
        raise ConnectionError_(f"{path}: expected a mapping of site id to its connection")
    out: dict[str, SiteConnection] = {}
    for site, body in raw.items():
        if site not in known_sites:
            known = ", ".join(sorted(known_sites))
            raise ConnectionError_(f"{path}: {site!r} is not a catalog site; known: {known}")
        if not isinstance(body, dict):
            raise ConnectionError_(f"{path}: {site}: expected a mapping (transport, cluster, ...)")
        try:
            out[site] = SiteConnection.model_validate({**body, "site": site})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            msg = str(first["msg"]).removeprefix("Value error, ")
            # A rule across fields names its field in the message ("rest_url: required ...").
            field = f"{where}: {msg}" if where else msg
            raise ConnectionError_(f"{path}: {site}.{field}") from None
    return out
