"""The compliance capability over the API: the use-case register's questions, a project's use
case (register, read) and its review by compliance officers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from aifactory.sdk.client import API_PREFIX, JSON, ApiError, _seg

if TYPE_CHECKING:
    from aifactory.sdk.client import Client


class ComplianceApi:
    def __init__(self, client: Client) -> None:
        self._c = client

    def questions(self) -> list[JSON]:
        result: list[JSON] = self._c._get("/compliance/questions")
        return result

    def register_use_case(
        self, project_id: str, intended_purpose: str, sector: str, answers: Mapping[str, bool]
    ) -> JSON:
        """Register or change the project's use case; the answer holds its class and why."""
        body = {"intended_purpose": intended_purpose, "sector": sector, "answers": dict(answers)}
        result: JSON = self._c._request("PUT", f"/projects/{_seg(project_id)}/use-case", json=body)
        return result

    def use_case(self, project_id: str) -> JSON:
        result: JSON = self._c._get(f"/projects/{_seg(project_id)}/use-case")
        return result

    def review_use_case(
        self, project_id: str, decision: str, reason: str, risk_class: str | None = None
    ) -> JSON:
        """Compliance officers: ``decision`` confirmed or overridden (with ``risk_class``)."""
        body = {"decision": decision, "reason": reason, "risk_class": risk_class}
        result: JSON = self._c._post(f"/projects/{_seg(project_id)}/use-case/review", body)
        return result

    # -- the model registry ----------------------------------------------------------------
    def create_model(self, body: Mapping[str, object]) -> JSON:
        """``project_id``, ``name``, ``architecture``, ``modality_in``, ``modality_out``,
        ``licence``, ``intended_tasks``."""
        result: JSON = self._c._post("/models", dict(body))
        return result

    def models(self, project_id: str | None = None) -> list[JSON]:
        result: list[JSON] = self._c._get("/models", project_id=project_id)
        return result

    def model(self, model: str) -> JSON:
        """By id or name, with its versions."""
        result: JSON = self._c._get(f"/models/{_seg(model)}")
        return result

    def add_version(self, model: str, body: Mapping[str, object]) -> JSON:
        result: JSON = self._c._post(f"/models/{_seg(model)}/versions", dict(body))
        return result

    def compute(self, version_id: str) -> JSON:
        """The version's compute ledger, lineage and thresholds crossed."""
        result: JSON = self._c._get(f"/model-versions/{_seg(version_id)}/compute")
        return result

    # -- compliance cases ---------------------------------------------------------------------
    def cases(self, state: str | None = None) -> list[JSON]:
        result: list[JSON] = self._c._get("/compliance/cases", state=state)
        return result

    def close_case(self, case_id: str, reason: str) -> JSON:
        result: JSON = self._c._post(f"/compliance/cases/{_seg(case_id)}/close", {"reason": reason})
        return result

    def evaluate(
        self, version_id: str, job_id: str, name: str, metrics: Mapping[str, float]
    ) -> JSON:
        """Attach an ended evaluation job's named metrics to the version."""
        body = {"job_id": job_id, "name": name, "metrics": dict(metrics)}
        result: JSON = self._c._post(f"/model-versions/{_seg(version_id)}/evaluations", body)
        return result

    def docs(self, version_id: str, kind: str = "annex-xi", format: str = "md") -> str:
        """A documentation draft (``annex-xi``, ``annex-xii`` or ``summary``), as text."""
        response = self._c._http.get(
            f"{self._c.url}{API_PREFIX}/model-versions/{_seg(version_id)}/docs",
            params={"kind": kind, "format": format},
            headers={"Authorization": f"Bearer {self._c.token}"} if self._c.token else {},
        )
        if not response.is_success:
            raise ApiError.from_response(response)
        return response.text
