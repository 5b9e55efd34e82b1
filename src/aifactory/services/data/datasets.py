"""Datasets: creation with their residency policy, who may see and use them, policy changes
(wider ones need an owner of the organisation), grants to other projects and the transfer log.

Who may do what: members of the dataset's project and owners of its organisation read and
write it; members of a project it is granted to (not expired, not revoked) read it and run
jobs on it; operators see its metadata and logs, never its bytes; everyone else gets 404.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from aifactory.db.data_tables import Dataset, DatasetGrant, DatasetTransfer, DatasetVersion
from aifactory.db.tables import Project
from aifactory.domain.countries import COUNTRIES
from aifactory.domain.data import (
    EEA,
    EU_EEA,
    Classification,
    ResidencyKind,
    ResidencyPolicy,
    default_policy,
    widens,
)
from aifactory.services import audit, tenancy
from aifactory.services.data.stores import DataPlane
from aifactory.services.errors import Conflict, Forbidden, Invalid, NotFound
from aifactory.services.identity import Principal
from aifactory.services.ids import as_utc, new_id, utcnow
from aifactory.storage.crypto import new_data_key

_Row = TypeVar("_Row", DatasetGrant, DatasetVersion, DatasetTransfer)


class Need(Enum):
    SEE = 1  # metadata, versions, transfer log
    READ = 2  # bytes, and jobs that read it
    WRITE = 3  # new versions, replicas, narrower policy
    OWN = 4  # wider policy, grants


def policy_of(row: Dataset) -> ResidencyPolicy:
    p = row.policy
    countries = list(p.get("countries", []))
    eu = EU_EEA in countries
    expanded = set(c for c in countries if c != EU_EEA) | (EEA if eu else set())
    return ResidencyPolicy(
        ResidencyKind(p["kind"]),
        countries=frozenset(expanded),
        sites=frozenset(p.get("sites", [])),
        eu_eea=eu,
    )


def live_grant(session: Session, dataset_id: str, projects: Sequence[str], now: datetime) -> bool:
    if not projects:
        return False
    row = session.execute(
        select(DatasetGrant.id).where(
            DatasetGrant.dataset_id == dataset_id,
            DatasetGrant.project_id.in_(list(projects)),
            DatasetGrant.revoked_at.is_(None),
            or_(DatasetGrant.expires_at.is_(None), DatasetGrant.expires_at > now),
        )
    ).first()
    return row is not None


def may(session: Session, principal: Principal, ds: Dataset, need: Need) -> bool:
    owner = principal.owns_org(ds.org_id)
    member = ds.project_id in principal.projects
    if need is Need.OWN:
        return owner
    if member or owner:
        return True
    if need is Need.WRITE:
        return False
    if live_grant(session, ds.id, sorted(principal.projects), utcnow()):
        return True
    return need is Need.SEE and principal.sees_all_tenants


def get(session: Session, principal: Principal, dataset_id: str, need: Need = Need.SEE) -> Dataset:
    """The dataset if the caller may see it (else 404), and do ``need`` (else 403)."""
    ds = session.get(Dataset, dataset_id)
    if ds is None or not may(session, principal, ds, Need.SEE):
        raise NotFound("dataset", dataset_id)
    if not may(session, principal, ds, need):
        what = {
            Need.READ: "read its bytes",
            Need.WRITE: "change it",
            Need.OWN: "widen its policy or grant it",
        }[need]
        who = (
            "owners of its organisation"
            if need is Need.OWN
            else "members of its project, owners of its organisation"
            + (" and projects it is granted to" if need is Need.READ else "")
        )
        raise Forbidden(f"only {who} may {what}")
    return ds


def list_datasets(
    session: Session, principal: Principal, project_id: str | None = None
) -> list[Dataset]:
    query = select(Dataset).order_by(Dataset.created_at, Dataset.id)
    if project_id is not None:
        query = query.where(Dataset.project_id == project_id)
    if not principal.sees_all_tenants:
        granted = select(DatasetGrant.dataset_id).where(
            DatasetGrant.project_id.in_(sorted(principal.projects)),
            DatasetGrant.revoked_at.is_(None),
            or_(DatasetGrant.expires_at.is_(None), DatasetGrant.expires_at > utcnow()),
        )
        owned_orgs = [o for o in principal.orgs if principal.owns_org(o)]
        query = query.where(
            or_(
                Dataset.project_id.in_(sorted(principal.projects)),
                Dataset.org_id.in_(owned_orgs),
                Dataset.id.in_(granted),
            )
        )
    return list(session.execute(query).scalars())


@dataclass(frozen=True)
class PolicyInput:
    """A policy as a caller gives it: a kind, and countries (or EU/EEA) or sites."""

    kind: ResidencyKind
    countries: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()


def check_policy(plane: DataPlane, given: PolicyInput, field: str = "policy") -> ResidencyPolicy:
    site_ids = [s.id for s in plane.catalog.sites]
    if given.kind is ResidencyKind.COUNTRIES:
        if not given.countries:
            raise Invalid.one(f"{field}.countries", "name at least one country, or EU/EEA")
        codes: set[str] = set()
        eu = False
        for i, c in enumerate(given.countries):
            if c == EU_EEA:
                eu = True
            elif c in COUNTRIES:
                codes.add(c)
            else:
                raise Invalid.one(
                    f"{field}.countries[{i}]",
                    f"unknown country {c!r}",
                    [EU_EEA, *sorted(COUNTRIES)],
                )
        if eu:
            codes |= EEA
        return ResidencyPolicy(
            ResidencyKind.COUNTRIES, countries=frozenset(codes), eu_eea=eu and codes == EEA
        )
    if given.countries:
        raise Invalid.one(
            f"{field}.countries", f"only a {ResidencyKind.COUNTRIES.value} policy names countries"
        )
    if given.kind is ResidencyKind.SITES:
        if not given.sites:
            raise Invalid.one(f"{field}.sites", "name at least one site", site_ids)
        for i, s in enumerate(given.sites):
            if s not in site_ids:
                raise Invalid.one(f"{field}.sites[{i}]", f"unknown site {s!r}", site_ids)
        return ResidencyPolicy(ResidencyKind.SITES, sites=frozenset(given.sites))
    if given.sites:
        raise Invalid.one(
            f"{field}.sites", f"only a {ResidencyKind.SITES.value} policy names sites"
        )
    return ResidencyPolicy(given.kind)


def _sites(plane: DataPlane) -> list[tuple[str, str]]:
    return [(s.id, s.country) for s in plane.catalog.sites]


def _choose_home(plane: DataPlane, policy: ResidencyPolicy, home: str | None) -> str:
    """The site the dataset's uploads go to: the one named, else the first operational site
    the policy admits, preferring one that runs jobs here (a local executor)."""
    sites = {s.id: s for s in plane.catalog.sites}
    if home is not None:
        site = sites.get(home)
        if site is None:
            raise Invalid.one("home_site", f"unknown site {home!r}", sorted(sites))
        if not site.is_operational:
            raise Invalid.one("home_site", f"site {home} is not operational yet")
        if policy.kind is not ResidencyKind.HOME and not policy.admits(home, site.country, home):
            raise Invalid.one(
                "home_site",
                f"the policy ({policy.describe(home)}) does not admit {home} ({site.country})",
            )
        return home
    admitted = [
        s
        for s in plane.catalog.sites
        if s.is_operational
        and (policy.kind is ResidencyKind.HOME or policy.admits(s.id, s.country, s.id))
    ]
    if not admitted:
        raise Invalid.one("policy", "no operational site of the federation satisfies this policy")
    local = [s for s in admitted if any(p.executor.value == "local" for p in s.partitions)]
    return (local or admitted)[0].id


def create(
    session: Session,
    principal: Principal,
    plane: DataPlane,
    *,
    project_id: str,
    name: str,
    description: str,
    classification: Classification,
    licence: str,
    provenance: dict[str, Any],
    origin_country: str | None,
    policy: PolicyInput | None,
    home_site: str | None,
) -> Dataset:
    project = tenancy.get_project(session, principal, project_id)
    if not (project.id in principal.projects or principal.owns_org(project.org_id)):
        raise Forbidden("only project members and organisation owners may create its datasets")
    exists = session.execute(
        select(Dataset.id).where(Dataset.project_id == project.id, Dataset.name == name)
    ).first()
    if exists:
        raise Conflict(f"project {project.id} already has a dataset named {name!r}")
    org_country = session.execute(
        select(Project.org_id).where(Project.id == project.id)
    ).scalar_one()
    origin = origin_country or tenancy.get_org(session, principal, org_country).country
    if origin not in COUNTRIES:
        raise Invalid.one("origin_country", f"unknown country {origin!r}", sorted(COUNTRIES))
    rule = (
        check_policy(plane, policy)
        if policy is not None
        else default_policy(classification, origin)
    )
    home = _choose_home(plane, rule, home_site)
    dataset_id = new_id("dst")
    key_id, wrapped = plane.keyring().wrap(new_data_key(), dataset_id)
    now = utcnow()
    ds = Dataset(
        id=dataset_id,
        org_id=project.org_id,
        project_id=project.id,
        name=name,
        description=description,
        classification=classification.value,
        licence=licence,
        provenance=provenance,
        origin_country=origin,
        home_site=home,
        policy=rule.as_dict(),
        key_id=key_id,
        wrapped_key=wrapped,
        created_by=principal.user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(ds)
    session.flush()
    audit.append(
        session,
        actor=principal.user_id,
        action="dataset.create",
        object_type="dataset",
        object_id=ds.id,
        org_id=ds.org_id,
        data={
            "project_id": project.id,
            "name": name,
            "classification": classification.value,
            "policy": rule.as_dict(),
            "home_site": home,
        },
    )
    return ds


def set_policy(
    session: Session,
    principal: Principal,
    plane: DataPlane,
    dataset_id: str,
    given: PolicyInput,
    reason: str,
) -> Dataset:
    """A narrower (or equal) policy: any member; a wider one: an owner of the organisation.
    Either way an audit event with the sites and countries gained."""
    ds = get(session, principal, dataset_id, Need.WRITE)
    old = policy_of(ds)
    new = check_policy(plane, given)
    gained = widens(old, new, _sites(plane), ds.home_site)
    if gained and not principal.owns_org(ds.org_id):
        raise Forbidden(
            "the new policy is wider (it admits "
            + ", ".join(sorted(gained))
            + "): only an owner of the organisation may widen a dataset's policy"
        )
    if new.kind is not ResidencyKind.HOME and not new.admits(
        ds.home_site, plane.site_country(ds.home_site), ds.home_site
    ):
        raise Invalid.one(
            "policy", f"the policy would not admit the dataset's home site {ds.home_site}"
        )
    ds.policy = new.as_dict()
    ds.updated_at = utcnow()
    audit.append(
        session,
        actor=principal.user_id,
        action="dataset.policy.widen" if gained else "dataset.policy.narrow",
        object_type="dataset",
        object_id=ds.id,
        org_id=ds.org_id,
        data={
            "from": old.as_dict(),
            "to": new.as_dict(),
            "gained": sorted(gained),
            "reason": reason,
        },
    )
    return ds


def grant(
    session: Session,
    principal: Principal,
    dataset_id: str,
    *,
    project_id: str,
    expires_at: datetime | None,
) -> DatasetGrant:
    ds = get(session, principal, dataset_id, Need.OWN)
    project = session.get(Project, project_id)
    if project is None:
        raise Invalid.one("project_id", f"no project {project_id!r}")
    if project.id == ds.project_id:
        raise Invalid.one("project_id", "the dataset's own project needs no grant")
    now = utcnow()
    if expires_at is not None and as_utc(expires_at) <= now:
        raise Invalid.one("expires_at", "must be in the future")
    row = DatasetGrant(
        id=new_id("gnt"),
        dataset_id=ds.id,
        project_id=project.id,
        granted_by=principal.user_id,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(row)
    audit.append(
        session,
        actor=principal.user_id,
        action="dataset.grant",
        object_type="dataset",
        object_id=ds.id,
        org_id=ds.org_id,
        data={
            "grant_id": row.id,
            "project_id": project.id,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return row


def _of(session: Session, model: type[_Row], dataset_id: str, order: Any) -> list[_Row]:
    query = select(model).where(model.dataset_id == dataset_id).order_by(order)
    return list(session.execute(query).scalars())


def grants(session: Session, principal: Principal, dataset_id: str) -> list[DatasetGrant]:
    ds = get(session, principal, dataset_id)
    return _of(session, DatasetGrant, ds.id, DatasetGrant.created_at)


def versions(session: Session, principal: Principal, dataset_id: str) -> list[DatasetVersion]:
    ds = get(session, principal, dataset_id)
    return _of(session, DatasetVersion, ds.id, DatasetVersion.number)


def version(session: Session, principal: Principal, ds: Dataset, number: int) -> DatasetVersion:
    v = session.execute(
        select(DatasetVersion).where(
            DatasetVersion.dataset_id == ds.id, DatasetVersion.number == number
        )
    ).scalar_one_or_none()
    if v is None:
        raise NotFound("version", f"{ds.name}@{number}")
    return v


def transfers(session: Session, principal: Principal, dataset_id: str) -> list[DatasetTransfer]:
    """The transfer log, oldest first."""
    ds = get(session, principal, dataset_id)
    return _of(session, DatasetTransfer, ds.id, DatasetTransfer.id)
