"""Access calls: an operator opens a call of one mode on chosen partitions, with the mode's
rules as data (defaults from catalog/access-modes.yaml, overrides per call)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aifactory.catalog.access_modes import call_rules
from aifactory.core.calendar import WorkingCalendar, add_months, calendar_problem
from aifactory.db.tables import Call
from aifactory.domain.access import AccessMode, DeadlineFrom
from aifactory.domain.access_forms import CallRules, CallSpec
from aifactory.domain.catalog import Catalog
from aifactory.services import audit
from aifactory.services.errors import Conflict, FieldProblem, Forbidden, Invalid, NotFound
from aifactory.services.identity import Principal
from aifactory.services.ids import new_id, utcnow


def rules_of(call: Call) -> CallRules:
    return CallRules.model_validate(call.rules)


def calendar_of(call: Call, catalog: Catalog) -> WorkingCalendar:
    rules = rules_of(call)
    country = rules.calendar.country or _site_country(catalog, call.partitions[0])
    return WorkingCalendar(
        country,
        extra_closed=frozenset(rules.calendar.extra_closed),
        extra_open=frozenset(rules.calendar.extra_open),
    )


def _site_country(catalog: Catalog, partition: str) -> str:
    site_id = partition.split("/", 1)[0]
    return next(s.country for s in catalog.sites if s.id == site_id)


def open_problem(call: Call, today: date) -> str | None:
    """Why the call takes no proposals today, or None."""
    if call.closed_at is not None:
        return f"call {call.code} was closed on {call.closed_at:%Y-%m-%d}"
    if today < call.opens_on:
        return f"call {call.code} opens on {call.opens_on.isoformat()}"
    if call.closes_on is not None and today > call.closes_on:
        return f"call {call.code} closed on {call.closes_on.isoformat()}"
    return None


def next_cutoff(call: Call, on: date) -> date | None:
    later = sorted(d for d in (date.fromisoformat(c) for c in call.cutoffs) if d >= on)
    return later[0] if later else None


def decision_due(call: Call, catalog: Catalog, submitted: date) -> tuple[date | None, date]:
    """(the cut-off that starts the clock, if any; the date a decision is due)."""
    rules = rules_of(call)
    start = submitted
    cutoff = None
    if rules.decision_from is DeadlineFrom.CUTOFF:
        cutoff = next_cutoff(call, submitted)
        if cutoff is None:  # refused at submission (rule cutoffs); else count from the day
            cutoff = submitted
        start = cutoff
    if rules.decision_months is not None:
        return cutoff, add_months(start, rules.decision_months)
    assert rules.decision_working_days is not None
    return cutoff, calendar_of(call, catalog).add_working_days(start, rules.decision_working_days)


def _validation_problems(exc: ValidationError, prefix: str) -> list[FieldProblem]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        out.append(FieldProblem(f"{prefix}.{loc}" if loc else prefix, err["msg"]))
    return out


def _generated_code(session: Session, mode: AccessMode, year: int) -> str:
    n = session.execute(
        select(func.count()).select_from(Call).where(Call.code.like(f"{year}{mode.code}%"))
    ).scalar_one()
    return f"{year}{mode.code}{n + 1:02d}"


def open_call(
    session: Session,
    principal: Principal,
    catalog: Catalog,
    spec: CallSpec,
    *,
    today: date,
    actor: str | None = None,
) -> Call:
    if not principal.is_operator:
        raise Forbidden("only operators open access calls")
    known = [f"{s.id}/{p.id}" for s, p in catalog.partitions()]
    problems = [
        FieldProblem(f"partitions[{i}]", f"unknown partition {ref!r}", known)
        for i, ref in enumerate(spec.partitions)
        if ref not in known
    ]
    rules: CallRules | None = None
    try:
        rules = call_rules(spec.mode, spec.rules.model_dump(mode="json", exclude_unset=True))
    except ValidationError as exc:
        problems.extend(_validation_problems(exc, "rules"))
    if rules is not None:
        country = rules.calendar.country
        if country is None and not problems:
            country = _site_country(catalog, spec.partitions[0])
        problem = calendar_problem(country) if country else None
        if problem:
            problems.append(FieldProblem("rules.calendar.country", problem))
        if rules.decision_from is DeadlineFrom.CUTOFF and not spec.cutoffs:
            problems.append(
                FieldProblem(
                    "cutoffs",
                    f"{spec.mode.value} decides after cut-offs: list at least one date",
                    rule="decision_from",
                )
            )
    if problems:
        raise Invalid(problems)
    assert rules is not None
    opens = spec.opens_on or today
    code = spec.code or _generated_code(session, spec.mode, opens.year)
    if session.execute(select(Call.id).where(Call.code == code)).first():
        raise Conflict(f"a call with code {code} already exists")
    call = Call(
        id=new_id("call"),
        code=code,
        title=spec.title,
        mode=spec.mode.value,
        partitions=list(spec.partitions),
        opens_on=opens,
        closes_on=spec.closes_on,
        cutoffs=sorted({d.isoformat() for d in spec.cutoffs}),
        rules=rules.model_dump(mode="json"),
        closed_at=None,
        proposal_count=0,
        created_by=actor or principal.user_id,
        created_at=utcnow(),
    )
    session.add(call)
    session.flush()
    audit.append(
        session,
        actor=actor or principal.user_id,
        action="call.open",
        object_type="call",
        object_id=call.id,
        data={"code": code, "mode": spec.mode.value, "partitions": list(spec.partitions)},
    )
    return call


def close_call(session: Session, principal: Principal, call_id: str) -> Call:
    if not principal.is_operator:
        raise Forbidden("only operators close access calls")
    call = get_call(session, call_id)
    if call.closed_at is not None:
        raise Conflict(f"call {call.code} is already closed")
    call.closed_at = utcnow()
    audit.append(
        session,
        actor=principal.user_id,
        action="call.close",
        object_type="call",
        object_id=call.id,
        data={"code": call.code},
    )
    return call


def get_call(session: Session, call_id: str) -> Call:
    """Calls are public to every signed-in user: they are how anyone applies."""
    call = session.get(Call, call_id)
    if call is None:
        raise NotFound("call", call_id)
    return call


def list_calls(
    session: Session, *, today: date, open_only: bool, mode: AccessMode | None = None
) -> list[Call]:
    query = select(Call).order_by(Call.opens_on.desc(), Call.code)
    if mode is not None:
        query = query.where(Call.mode == mode.value)
    calls = list(session.execute(query).scalars())
    return [c for c in calls if open_problem(c, today) is None] if open_only else calls


def default_cutoffs(mode: AccessMode, start: date, months: int = 12) -> list[date]:
    """Large Scale: two cut-offs a month (1st and 15th); AI for Science: every two months."""
    first = date(start.year, start.month, 1)
    if mode is AccessMode.LARGE_SCALE:
        days = [add_months(first, m).replace(day=d) for m in range(months + 1) for d in (1, 15)]
    elif mode is AccessMode.AI_FOR_SCIENCE:
        days = [add_months(first, m) for m in range(0, months + 1, 2)]
    else:
        return []
    return [d for d in days if d > start][: 2 * months]


MODE_TITLES = {
    AccessMode.PLAYGROUND: "Playground",
    AccessMode.FAST_LANE: "Fast Lane",
    AccessMode.LARGE_SCALE: "Large Scale",
    AccessMode.AI_FOR_SCIENCE: "AI for Science",
}


def default_call_specs(catalog: Catalog, today: date) -> list[CallSpec]:
    """The embedded default: one call of each mode on this machine's partitions, so that a new
    user can apply at once."""
    local = [f"{s.id}/{p.id}" for s, p in catalog.partitions() if p.is_local]
    if not local:
        return []
    specs = []
    for mode in AccessMode:
        specs.append(
            CallSpec(
                title=f"{MODE_TITLES[mode]} on this machine",
                mode=mode,
                partitions=local,
                opens_on=today,
                closes_on=add_months(today, 12),
                cutoffs=default_cutoffs(mode, today),
            )
        )
    return specs


def open_default_calls(
    session: Session, principal: Principal, catalog: Catalog, now: datetime
) -> list[Call]:
    """Open the default calls once, on a platform that has never had a call."""
    if session.execute(select(Call.id).limit(1)).first():
        return []
    today = now.date()
    return [
        open_call(session, principal, catalog, spec, today=today)
        for spec in default_call_specs(catalog, today)
    ]
