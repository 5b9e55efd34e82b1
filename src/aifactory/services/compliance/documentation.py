"""Documentation drafts of a model version, filled from what the platform knows and marking
every field only the provider can fill: the technical documentation of Annex XI (section 1;
section 2 too when the version is over the systemic-risk threshold, by actual or forecast
compute), the information for downstream providers of Annex XII, and a public summary of the
training content. One structure, two renderings: Markdown and HTML."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from aifactory.compliance.compute import Rules, Threshold
from aifactory.db.compliance_tables import ModelVersion
from aifactory.db.data_tables import Dataset, JobDataset
from aifactory.db.tables import Job
from aifactory.domain.catalog import Catalog
from aifactory.domain.models import TRAINING_PURPOSES
from aifactory.services.compliance import evaluations
from aifactory.services.compliance.ledger import VersionCompute, compute_of
from aifactory.services.compliance.models import get_version
from aifactory.services.identity import Principal

PROVIDER = "[to be filled by the provider]"


class Kind(StrEnum):
    ANNEX_XI = "annex-xi"
    ANNEX_XII = "annex-xii"
    SUMMARY = "summary"


@dataclass(frozen=True)
class Item:
    label: str
    value: str = PROVIDER  # the platform's figure, or the marker

    @property
    def by_provider(self) -> bool:
        return self.value == PROVIDER


@dataclass(frozen=True)
class Section:
    heading: str
    items: Sequence[Item] = ()
    table: Sequence[Sequence[str]] = ()  # first row: the header


@dataclass(frozen=True)
class Document:
    title: str
    intro: str
    sections: Sequence[Section] = field(default_factory=tuple)


def _num(v: float) -> str:
    """Readable at any size: 12,345 / 12.35 / 0.00278."""
    if v >= 1000:
        return f"{v:,.0f}"
    return f"{v:,.2f}" if v >= 1 else f"{v:.3g}"


def _flop(v: float | None) -> str:
    return "unknown" if v is None else f"{v:.3g} FLOP"


def _datasets(session: Session, version: ModelVersion) -> list[tuple[str, Dataset]]:
    training = [p.value for p in TRAINING_PURPOSES]
    rows = session.execute(
        select(JobDataset.ref, Dataset)
        .join(Job, Job.id == JobDataset.job_id)
        .join(Dataset, Dataset.id == JobDataset.dataset_id)
        .where(Job.model_version_id == version.id, Job.purpose.in_(training))
        .order_by(JobDataset.ref)
    ).all()
    seen: dict[str, Dataset] = {}
    for ref, ds in rows:
        seen.setdefault(ref, ds)
    return sorted(seen.items())


def _compute_items(c: VersionCompute, rules: Rules) -> list[Item]:
    t = c.training
    items = [
        Item(
            "2(d) Computational resources used for training",
            f"{_flop(t.flop)}, hardware-based: {_num(t.gpu_seconds / 3600)} GPU-hours on the "
            f"accelerators' peak dense BF16 at the utilisation of each job (default "
            f"{rules.default_utilisation:g}); {len(t.jobs)} training job(s) on the platform",
        ),
        Item(
            "2(d) Architecture-based estimate (6·N·D)",
            _flop(t.architecture_flop) if t.architecture_flop else PROVIDER,
        ),
        Item("2(d) Training time", f"{_num(t.training_s / 3600)} hours (the jobs' elapsed time)"),
        Item(
            "2(d) Cumulative training compute",
            f"{_flop(c.lineage.flop)} over {len(c.lineage.chain)} version(s): {c.lineage.says}",
        ),
        Item(
            "2(e) Known or estimated energy consumption",
            f"{_num(t.kwh)} kWh, estimated from the compute used (accelerators' board power x "
            f"the sites' PUE); {_num(t.kg_co2e)} kg CO2e at the sites' grid intensity",
        ),
    ]
    return items


def build(
    session: Session,
    principal: Principal,
    version_id: str,
    kind: Kind,
    catalog: Catalog,
    rules: Rules,
    now: datetime,
) -> Document:
    version = get_version(session, principal, version_id)
    c = compute_of(session, version, catalog, rules, now)
    m = c.model
    data = _datasets(session, version)
    evals = evaluations.of_version(session, version)
    name = f"{m.name} {version.version}"
    params = f"{version.parameters:,}" if version.parameters else PROVIDER
    general = [
        Item(
            "1(a) Tasks the model is intended to perform", "; ".join(m.intended_tasks) or PROVIDER
        ),
        Item("1(a) Type and nature of AI systems it can be integrated in"),
        Item("1(b) Acceptable use policies"),
        Item("1(c) Date of release and methods of distribution"),
        Item("1(d) Architecture", m.architecture),
        Item("1(d) Number of parameters", params),
        Item(
            "1(e) Modality and format of inputs and outputs",
            f"in: {', '.join(m.modality_in)}; out: {', '.join(m.modality_out)} (formats: "
            f"{PROVIDER})",
        ),
        Item("1(f) Licence", m.licence or PROVIDER),
    ]
    data_table = [["Dataset version", "Licence", "Origin", "Sources", "Collection", "TDM opt-outs"]]
    for ref, ds in data:
        prov = ds.provenance or {}
        tdm = prov.get("tdm_opt_outs_respected")
        data_table.append(
            [
                ref,
                ds.licence,
                ds.origin_country,
                "; ".join(prov.get("sources") or []) or PROVIDER,
                prov.get("collection_method") or PROVIDER,
                "respected" if tdm else "not respected" if tdm is False else PROVIDER,
            ]
        )
    eval_table = [["Evaluation", "Metrics", "Data", "Job"]] + [
        [
            e.name,
            ", ".join(f"{k} {v:g}" for k, v in sorted(e.metrics.items())),
            ", ".join(e.datasets) or "-",
            e.job_id,
        ]
        for e in evals
    ]
    base = c.lineage.base or (c.lineage.chain[1] if len(c.lineage.chain) > 1 else "none")
    if kind is Kind.ANNEX_XII:
        return Document(
            f"Information for downstream providers (AI Act, Annex XII): {name}",
            _intro(name, now),
            (
                Section(
                    "1. General description",
                    [
                        *general[:4],
                        Item("1(d) How the model interacts with hardware or software outside it"),
                        Item("1(e) Versions of relevant software"),
                        *general[4:],
                    ],
                ),
                Section(
                    "2. Elements of the model and its development",
                    [
                        Item("2(a) Technical means required for integration"),
                        Item(
                            "2(b) Modality, format and maximum size of inputs and outputs",
                            f"in: {', '.join(m.modality_in)}; out: {', '.join(m.modality_out)}"
                            f" (formats and maximum size, e.g. context window: {PROVIDER})",
                        ),
                        Item(
                            "2(c) Data used for training, testing and validation", _data_line(data)
                        ),
                    ],
                    data_table if data else (),
                ),
            ),
        )
    if kind is Kind.SUMMARY:
        return Document(
            f"Public summary of the training content: {name}",
            _intro(name, now),
            (
                Section(
                    "General information",
                    [
                        Item("Model", f"{m.name}, version {version.version} ({version.id})"),
                        Item(
                            "Modalities",
                            f"{', '.join(m.modality_in)} -> {', '.join(m.modality_out)}",
                        ),
                        Item("Built on", base),
                        Item(
                            "Training data size (tokens)",
                            f"{version.training_tokens:,}" if version.training_tokens else PROVIDER,
                        ),
                    ],
                ),
                Section(
                    "Data sources",
                    [Item("Datasets trained on", _data_line(data))],
                    data_table if data else (),
                ),
                Section(
                    "Data processing",
                    [
                        Item("Respect of text-and-data-mining opt-outs"),
                        Item("Removal of illegal content"),
                    ],
                ),
            ),
        )
    sections = [
        Section("Section 1. 1. General description of the model", general),
        Section(
            "Section 1. 2. Elements of the model and its development",
            [
                Item("2(a) Technical means required for integration in AI systems"),
                Item(
                    "2(b) Design specifications and training process",
                    f"built on: {base}; {PROVIDER}",
                ),
                Item("2(c) Data used for training, testing and validation", _data_line(data)),
                *_compute_items(c, rules),
            ],
            data_table if data else (),
        ),
    ]
    systemic = any(x.threshold is Threshold.SYSTEMIC_RISK for x in c.crossings)
    if systemic:
        sections.append(
            Section(
                "Section 2. Providers of models with systemic risk",
                [
                    Item(
                        "1. Evaluation strategies and results",
                        f"{len(evals)} evaluation(s) recorded on the platform (below); "
                        f"criteria and methodology: {PROVIDER}",
                    ),
                    Item("2. Adversarial testing, model adaptations, alignment and fine-tuning"),
                    Item("3. System architecture"),
                ],
                eval_table if evals else (),
            )
        )
    else:
        sections.append(
            Section(
                "Evaluations recorded on the platform",
                [] if evals else [Item("Evaluations", "none recorded")],
                eval_table if evals else (),
            )
        )
    crossed = "; ".join(
        f"{x.threshold.value} ({x.basis.value}: {_flop(x.flop)} > {_flop(x.limit)}; notify by "
        f"{x.due_on.isoformat()})"
        for x in c.crossings
    )
    sections.append(
        Section("Thresholds", [Item("Crossed", crossed or "none, by actual or forecast compute")])
    )
    return Document(
        f"Technical documentation (AI Act, Annex XI): {name}", _intro(name, now), sections
    )


def _data_line(data: list[tuple[str, Dataset]]) -> str:
    if not data:
        return f"no dataset of the platform was read by the training jobs; {PROVIDER}"
    return (
        f"{len(data)} dataset version(s) read by the training jobs (below); curation "
        f"methodology, data points and bias checks: {PROVIDER}"
    )


def _intro(name: str, now: datetime) -> str:
    return (
        f"A draft for {name}, made by the platform on {now.date().isoformat()} from the jobs "
        f"that ran for it. Fields marked {PROVIDER} are the provider's to fill. This draft is "
        "not legal advice."
    )


def markdown(doc: Document) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    out = [f"# {doc.title}", "", doc.intro, ""]
    for s in doc.sections:
        out += [f"## {s.heading}", ""]
        out += [f"- **{i.label}:** {i.value}" for i in s.items]
        if s.table:
            out += ["", "| " + " | ".join(cell(h) for h in s.table[0]) + " |"]
            out.append("|" + "---|" * len(s.table[0]))
            out += ["| " + " | ".join(cell(v) for v in row) + " |" for row in s.table[1:]]
        out.append("")
    return "\n".join(out)


def html(doc: Document) -> str:
    parts = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(doc.title)}</title></head><body>",
        f"<h1>{escape(doc.title)}</h1><p>{escape(doc.intro)}</p>",
    ]
    for s in doc.sections:
        parts.append(f"<h2>{escape(s.heading)}</h2><dl>")
        for i in s.items:
            mark = ' class="provider"' if i.by_provider else ""
            parts.append(f"<dt>{escape(i.label)}</dt><dd{mark}>{escape(i.value)}</dd>")
        parts.append("</dl>")
        if s.table:
            head = "".join(f'<th scope="col">{escape(h)}</th>' for h in s.table[0])
            body = "".join(
                "<tr>" + "".join(f"<td>{escape(v)}</td>" for v in row) + "</tr>"
                for row in s.table[1:]
            )
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts)
