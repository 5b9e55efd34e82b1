"""The model registry: an organisation's models and their versions, each version's base (a
registered version of the same organisation, an external model with its declared training
compute, or none), and the version a job says it produces.

Project members and organisation owners register models in their project; everyone in the
organisation reads them; another organisation's model is not found (404)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from aifactory.db.compliance_tables import Model, ModelVersion
from aifactory.db.tables import Project
from aifactory.domain.models import Modality, Produces
from aifactory.services import audit
from aifactory.services.errors import Conflict, FieldProblem, Forbidden, Invalid, NotFound
from aifactory.services.identity import Principal
from aifactory.services.ids import new_id, utcnow
from aifactory.services.tenancy import get_project, may_submit

# Beyond any model trained so far by orders of magnitude: a typo, not a model.
MAX_PARAMETERS = 10**15
MAX_TOKENS = 10**16
MAX_EXTERNAL_FLOP = 1e30
MODALITIES = tuple(m.value for m in Modality)


@dataclass(frozen=True)
class ModelInput:
    name: str
    architecture: str
    modality_in: Sequence[str]
    modality_out: Sequence[str]
    licence: str
    intended_tasks: Sequence[str]


@dataclass(frozen=True)
class VersionInput:
    version: str
    parameters: int | None = None
    training_tokens: int | None = None
    base_version_id: str | None = None  # a registered version of the same organisation
    base_external: str | None = None  # or an external model, by name
    base_external_flop: float | None = None  # its declared training compute; None: unknown


def _modalities(field: str, values: Sequence[str]) -> list[FieldProblem]:
    if not values:
        return [FieldProblem(field, "at least one modality", MODALITIES)]
    bad = [v for v in values if v not in MODALITIES]
    return [FieldProblem(field, f"unknown modality {v!r}", MODALITIES) for v in bad]


def create_model(
    session: Session, principal: Principal, project_id: str, given: ModelInput
) -> Model:
    project = get_project(session, principal, project_id)
    if not may_submit(principal, project):
        raise Forbidden("only project members and organisation owners register its models")
    problems = _modalities("modality_in", given.modality_in)
    problems += _modalities("modality_out", given.modality_out)
    for field, value in (("name", given.name), ("architecture", given.architecture)):
        if not value.strip():
            problems.append(FieldProblem(field, "must not be blank"))
    if problems:
        raise Invalid(problems)
    taken = session.execute(
        select(Model.id).where(Model.org_id == project.org_id, Model.name == given.name.strip())
    ).first()
    if taken:
        raise Conflict(f"the organisation has a model named {given.name.strip()!r} already")
    model = Model(
        id=new_id("mdl"),
        org_id=project.org_id,
        project_id=project.id,
        name=given.name.strip(),
        architecture=given.architecture.strip(),
        modality_in=list(dict.fromkeys(given.modality_in)),
        modality_out=list(dict.fromkeys(given.modality_out)),
        licence=given.licence.strip(),
        intended_tasks=[t.strip() for t in given.intended_tasks if t.strip()],
        created_by=principal.user_id,
        created_at=utcnow(),
    )
    session.add(model)
    session.flush()
    audit.append(
        session,
        actor=principal.user_id,
        action="model.create",
        object_type="model",
        object_id=model.id,
        org_id=model.org_id,
        data={"name": model.name, "project_id": project.id},
    )
    return model


def get_model(session: Session, principal: Principal, model_ref: str) -> Model:
    """By id, or by name among the caller's organisations' models."""
    model = session.get(Model, model_ref)
    if model is None:
        found = (
            session.execute(
                select(Model).where(Model.name == model_ref, Model.org_id.in_(list(principal.orgs)))
            )
            .scalars()
            .all()
        )
        model = found[0] if len(found) == 1 else None
    if model is None or not principal.can_read_org(model.org_id):
        raise NotFound("model", model_ref)
    return model


def list_models(
    session: Session, principal: Principal, project_id: str | None = None
) -> list[Model]:
    query = select(Model).order_by(Model.created_at, Model.id)
    if not principal.sees_all_tenants:
        query = query.where(Model.org_id.in_(list(principal.orgs)))
    if project_id:
        query = query.where(Model.project_id == project_id)
    return list(session.execute(query).scalars())


def versions(session: Session, model: Model) -> list[ModelVersion]:
    return list(
        session.execute(
            select(ModelVersion)
            .where(ModelVersion.model_id == model.id)
            .order_by(ModelVersion.created_at, ModelVersion.id)
        ).scalars()
    )


def get_version(session: Session, principal: Principal, version_id: str) -> ModelVersion:
    row = session.get(ModelVersion, version_id)
    if row is None or not principal.can_read_org(row.org_id):
        raise NotFound("model version", version_id)
    return row


def add_version(
    session: Session, principal: Principal, model_ref: str, given: VersionInput
) -> ModelVersion:
    model = get_model(session, principal, model_ref)
    project = session.get(Project, model.project_id)
    assert project is not None
    if not may_submit(principal, project):
        raise Forbidden("only project members and organisation owners register its models")
    problems = []
    if not given.version.strip():
        problems.append(FieldProblem("version", "must not be blank"))
    for field, value, top in (
        ("parameters", given.parameters, MAX_PARAMETERS),
        ("training_tokens", given.training_tokens, MAX_TOKENS),
    ):
        if value is not None and not 0 < value <= top:
            problems.append(FieldProblem(field, f"a count from 1 to {top:.0e}"))
    if given.base_version_id and given.base_external:
        problems.append(FieldProblem("base_external", "give a registered base or an external one"))
    flop = given.base_external_flop
    if flop is not None and not (given.base_external and 0 < flop <= MAX_EXTERNAL_FLOP):
        why = (
            "only with base_external"
            if not given.base_external
            else f"in (0, {MAX_EXTERNAL_FLOP:.0e}]"
        )
        problems.append(FieldProblem("base_external_flop", why))
    base: ModelVersion | None = None
    if given.base_version_id:
        base = session.get(ModelVersion, given.base_version_id)
        # Only a version of the same organisation is a registered base: a provider's lineage.
        # Another provider's model is an external base with its declared compute.
        if base is None or base.org_id != model.org_id:
            problems.append(
                FieldProblem(
                    "base_version_id",
                    f"no model version {given.base_version_id!r} of the organisation; "
                    "another provider's model is a base_external",
                )
            )
    if problems:
        raise Invalid(problems)
    taken = session.execute(
        select(ModelVersion.id).where(
            ModelVersion.model_id == model.id, ModelVersion.version == given.version.strip()
        )
    ).first()
    if taken:
        raise Conflict(f"model {model.name} has a version {given.version.strip()!r} already")
    row = ModelVersion(
        id=new_id("mdv"),
        model_id=model.id,
        org_id=model.org_id,
        version=given.version.strip(),
        parameters=given.parameters,
        training_tokens=given.training_tokens,
        base_version_id=base.id if base else None,
        base_external=given.base_external.strip() if given.base_external else None,
        base_external_flop=flop,
        created_by=principal.user_id,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    audit.append(
        session,
        actor=principal.user_id,
        action="model.version",
        object_type="model",
        object_id=model.id,
        org_id=model.org_id,
        data={
            "version": row.version,
            "version_id": row.id,
            "base": row.base_version_id or row.base_external,
        },
    )
    return row


def resolve_produces(
    session: Session, principal: Principal, project: Project, produces: Produces
) -> str:
    """The id of the model version a job says it produces: a version of a model of the job's
    own organisation, by the model's id or name."""
    model = session.execute(
        select(Model).where(
            Model.org_id == project.org_id,
            or_(Model.id == produces.model, Model.name == produces.model),
        )
    ).scalar_one_or_none()
    if model is None:
        raise Invalid.one(
            "produces.model", f"no model {produces.model!r} in the job's organisation"
        )
    version = session.execute(
        select(ModelVersion.id).where(
            ModelVersion.model_id == model.id, ModelVersion.version == produces.version
        )
    ).scalar_one_or_none()
    if version is None:
        raise Invalid.one(
            "produces.version", f"model {model.name} has no version {produces.version!r}"
        )
    return str(version)
