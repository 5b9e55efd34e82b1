"""Reviewers: ``reviews``, ``review submit``, ``conflict declare``, ``conflicts``."""

from __future__ import annotations

from typing import Annotated

import typer

from aifactory.cli import output as o
from aifactory.cli.config import get_state
from aifactory.domain.access import ReviewState
from aifactory.sdk import ApiError

review_app = typer.Typer(help="Answer a review request.", no_args_is_help=True)
conflict_app = typer.Typer(help="Declare a conflict of interest.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("reviews")(list_reviews)
    app.add_typer(review_app, name="review")
    app.add_typer(conflict_app, name="conflict")
    app.command("conflicts")(list_conflicts)


def list_reviews(
    ctx: typer.Context,
    state: Annotated[
        list[ReviewState] | None, typer.Option("--state", help="Repeat for several.")
    ] = None,
    proposal: Annotated[str | None, typer.Option("--proposal", help="Proposal id.")] = None,
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Your review requests, newest first (operators: every review)."""
    items = (
        get_state(ctx)
        .client()
        .list_reviews(state=[s.value for s in state] if state else None, proposal_id=proposal)
    )
    if output is o.Format.JSON:
        o.print_json(items)
        return
    o.table(
        ["ID", "PROPOSAL", "REFERENCE", "TITLE", "KIND", "STATE", "PASSED", "SCORE", "ASSIGNED"],
        (
            [
                r["id"],
                r["proposal_id"],
                r["proposal_reference"],
                r["proposal_title"],
                r["kind"],
                r["state"],
                r["passed"],
                r["score"],
                o.when(r["created_at"]),
            ]
            for r in items
        ),
    )


@review_app.command("submit")
def submit_review(
    ctx: typer.Context,
    review_id: Annotated[str, typer.Argument(metavar="ID")],
    passed: Annotated[
        bool | None,
        typer.Option(
            "--pass/--fail", help="Technical review: does the request fit?", show_default=False
        ),
    ] = None,
    score: Annotated[
        int | None, typer.Option("--score", min=1, max=5, help="Peer review: 1 (poor) to 5.")
    ] = None,
    comment: Annotated[str, typer.Option("--comment", help="What you found.")] = "",
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Answer a review: a technical one with --pass or --fail, a peer one with --score."""
    client = get_state(ctx).client()
    r = client.submit_review(review_id, passed=passed, score=score, comments=comment)
    if output is o.Format.JSON:
        o.print_json(r)
        return
    if r["kind"] == "peer":
        verdict = f"score {r['score']}"
    else:
        verdict = "passed" if r["passed"] else "failed"
    o.out(f"Review {r['id']} submitted ({r['kind']}: {verdict})")
    try:
        p = client.get_proposal(r["proposal_id"])
    except ApiError:
        return  # the review is in; the proposal's state is a courtesy
    o.out(f"{p['reference']} is now {p['state']}" + (f" ({p['reason']})" if p["reason"] else ""))


@conflict_app.command("declare")
def declare_conflict(
    ctx: typer.Context,
    organisation: Annotated[
        str, typer.Argument(metavar="ORGANISATION", help="The organisation's registered name.")
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why you cannot judge it fairly.")],
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Reviewers: declare a conflict of interest; you will not be assigned its proposals."""
    c = get_state(ctx).client().declare_conflict(organisation, reason)
    if output is o.Format.JSON:
        o.print_json(c)
        return
    o.out(f"Declared a conflict of interest with {c['organisation']!r}")


def list_conflicts(ctx: typer.Context, output: o.OutputOpt = o.Format.TABLE) -> None:
    """The conflicts of interest you declared."""
    items = get_state(ctx).client().list_conflicts()
    if output is o.Format.JSON:
        o.print_json(items)
        return
    o.table(
        ["ORGANISATION", "REASON", "DECLARED"],
        ([c["organisation"], c["reason"], o.when(c["declared_at"])] for c in items),
    )
