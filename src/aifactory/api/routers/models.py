"""The model registry: models, their versions (with their base), and a version's compute
ledger (FLOP both ways, energy, carbon, lineage, thresholds)."""

from __future__ import annotations

from enum import StrEnum

from fastapi import APIRouter, Query, status
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from sqlalchemy.orm import Session

from aifactory.api.deps import Caller, Rt
from aifactory.api.schemas.compliance import (
    ComputePublic,
    CrossingPublic,
    EvaluationCreate,
    EvaluationPublic,
    JobComputePublic,
    LedgerPublic,
    LineagePublic,
    ModelCreate,
    ModelPublic,
    VersionCreate,
    VersionPublic,
)
from aifactory.compliance.compute import Ledger
from aifactory.db.compliance_tables import Model, ModelVersion
from aifactory.services.compliance import documentation, evaluations, ledger, models
from aifactory.services.ids import utcnow

router = APIRouter(tags=["compliance"])


def version_view(v: ModelVersion) -> VersionPublic:
    return VersionPublic.model_validate(v, from_attributes=True)


def model_view(session: Session, m: Model) -> ModelPublic:
    return ModelPublic(
        id=m.id,
        org_id=m.org_id,
        project_id=m.project_id,
        name=m.name,
        architecture=m.architecture,
        modality_in=list(m.modality_in),
        modality_out=list(m.modality_out),
        licence=m.licence,
        intended_tasks=list(m.intended_tasks),
        created_at=m.created_at,
        versions=[version_view(v) for v in models.versions(session, m)],
    )


def ledger_view(led: Ledger) -> LedgerPublic:
    return LedgerPublic(
        flop=led.flop,
        architecture_flop=led.architecture_flop,
        gpu_hours=led.gpu_seconds / 3600,
        training_hours=led.training_s / 3600,
        kwh=led.kwh,
        kg_co2e=led.kg_co2e,
        jobs=[JobComputePublic.model_validate(j, from_attributes=True) for j in led.jobs],
    )


@router.post(
    "/models",
    operation_id="create_model",
    response_model=ModelPublic,
    status_code=status.HTTP_201_CREATED,
)
def create_model(body: ModelCreate, runtime: Rt, caller: Caller) -> ModelPublic:
    given = models.ModelInput(
        body.name,
        body.architecture,
        [m.value for m in body.modality_in],
        [m.value for m in body.modality_out],
        body.licence,
        body.intended_tasks,
    )
    with runtime.db.write() as session:
        return model_view(session, models.create_model(session, caller, body.project_id, given))


@router.get("/models", operation_id="list_models", response_model=list[ModelPublic])
def list_models(
    runtime: Rt, caller: Caller, project_id: str | None = Query(default=None, max_length=64)
) -> list[ModelPublic]:
    with runtime.db.read() as session:
        return [model_view(session, m) for m in models.list_models(session, caller, project_id)]


@router.get("/models/{model}", operation_id="get_model", response_model=ModelPublic)
def get_model(model: str, runtime: Rt, caller: Caller) -> ModelPublic:
    """A model by id, or by name among your organisations', with its versions."""
    with runtime.db.read() as session:
        return model_view(session, models.get_model(session, caller, model))


@router.post(
    "/models/{model}/versions",
    operation_id="add_model_version",
    response_model=VersionPublic,
    status_code=status.HTTP_201_CREATED,
)
def add_version(model: str, body: VersionCreate, runtime: Rt, caller: Caller) -> VersionPublic:
    given = models.VersionInput(
        body.version,
        body.parameters,
        body.training_tokens,
        body.base_version_id,
        body.base_external,
        body.base_external_flop,
    )
    with runtime.db.write() as session:
        return version_view(models.add_version(session, caller, model, given))


@router.get(
    "/model-versions/{version_id}/compute",
    operation_id="get_model_compute",
    response_model=ComputePublic,
)
def get_compute(version_id: str, runtime: Rt, caller: Caller) -> ComputePublic:
    """The version's compute ledger from the jobs that produced it: FLOP (hardware-based and
    6·N·D), GPU-hours, training time, energy and carbon; its lineage and the thresholds."""
    rules = ledger.rules_of(runtime.settings)
    with runtime.db.read() as session:
        got = ledger.version_compute(session, caller, version_id, runtime.catalog, rules, utcnow())
        lin = got.lineage
        return ComputePublic(
            model_id=got.model.id,
            model=got.model.name,
            version_id=got.version.id,
            version=got.version.version,
            training=ledger_view(got.training),
            other=ledger_view(got.other),
            lineage=LineagePublic(
                cumulative_flop=lin.flop,
                chain=list(lin.chain),
                base=lin.base,
                base_flop=lin.base_flop,
                becomes_provider=lin.becomes_provider,
                says=lin.says,
            ),
            forecast_more_flop=got.more_flop,
            crossings=[
                CrossingPublic(
                    threshold=c.threshold.value,
                    basis=c.basis.value,
                    flop=c.flop,
                    limit=c.limit,
                    known_on=c.known_on.isoformat(),
                    due_on=c.due_on.isoformat(),
                )
                for c in got.crossings
            ],
        )


@router.post(
    "/model-versions/{version_id}/evaluations",
    operation_id="attach_evaluation",
    response_model=EvaluationPublic,
    status_code=status.HTTP_201_CREATED,
)
def attach_evaluation(
    version_id: str, body: EvaluationCreate, runtime: Rt, caller: Caller
) -> EvaluationPublic:
    """Attach an ended evaluation job's named metrics (and the data it read) to the version."""
    with runtime.db.write() as session:
        row = evaluations.attach(session, caller, version_id, body.job_id, body.name, body.metrics)
        return EvaluationPublic.model_validate(row, from_attributes=True)


@router.get(
    "/model-versions/{version_id}/evaluations",
    operation_id="list_evaluations",
    response_model=list[EvaluationPublic],
)
def list_evaluations(version_id: str, runtime: Rt, caller: Caller) -> list[EvaluationPublic]:
    with runtime.db.read() as session:
        version = models.get_version(session, caller, version_id)
        return [
            EvaluationPublic.model_validate(e, from_attributes=True)
            for e in evaluations.of_version(session, version)
        ]


class DocFormat(StrEnum):
    MD = "md"
    HTML = "html"


@router.get(
    "/model-versions/{version_id}/docs",
    operation_id="get_model_docs",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/markdown": {}, "text/html": {}}}},
)
def get_docs(
    version_id: str,
    runtime: Rt,
    caller: Caller,
    kind: documentation.Kind = Query(default=documentation.Kind.ANNEX_XI),
    format: DocFormat = Query(default=DocFormat.MD),
) -> Response:
    """A documentation draft of the version, filled from the platform's record: Annex XI
    (technical documentation), Annex XII (for downstream providers) or the public summary of
    the training content; every field only the provider can fill is marked."""
    rules = ledger.rules_of(runtime.settings)
    with runtime.db.read() as session:
        doc = documentation.build(
            session, caller, version_id, kind, runtime.catalog, rules, utcnow()
        )
    if format is DocFormat.HTML:
        return HTMLResponse(documentation.html(doc))
    return PlainTextResponse(documentation.markdown(doc), media_type="text/markdown")
