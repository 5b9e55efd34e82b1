"""``aif``: the command line of aifactory. It talks to the API through the SDK only; ``serve``
and ``admin init`` run on the server's machine and call the services directly."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import httpx
import typer
from typer.core import TyperGroup

from aifactory.cli import (
    account,
    admin,
    allocations,
    calls,
    compliance,
    data,
    jobs,
    models,
    reviews,
    serve,
    slurm,
    tenancy,
)
from aifactory.cli import output as o
from aifactory.cli.config import State
from aifactory.sdk import ApiError


class AifGroup(TyperGroup):
    """Turns API and connection errors into ``Error: ...`` lines and exit code 1."""

    def invoke(self, ctx: Any) -> Any:  # Any: click's Context, or the one typer vendors
        try:
            return super().invoke(ctx)
        except ApiError as exc:
            for line in o.api_error_lines(exc):
                sys.stderr.write(line + "\n")
            raise typer.Exit(1) from None
        except httpx.TransportError as exc:
            state = ctx.find_object(State)
            where = state.url if state else "the server"
            sys.stderr.write(f"Error: cannot reach {where}: {exc}\n")
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=AifGroup,
    help="aifactory: submit and follow AI jobs across an EU AI Factory federation.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold tokens
)


@app.callback()
def root(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            envvar="AIF_URL",
            help="API server (default: the one saved by login, else http://127.0.0.1:8000).",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="AIF_TOKEN",
            show_default=False,
            help="API token (default: the one saved by login).",
        ),
    ] = None,
) -> None:
    state = State(url_option=url, token_option=token)
    ctx.obj = state
    ctx.call_on_close(state.close)


account.register(app)
tenancy.register(app)
jobs.register(app)
data.register(app)
calls.register(app)
allocations.register(app)
compliance.register(app)
models.register(app)
reviews.register(app)
slurm.register(app)
admin.register(app)
serve.register(app)


def main() -> None:
    app(prog_name="aif")


if __name__ == "__main__":
    main()
