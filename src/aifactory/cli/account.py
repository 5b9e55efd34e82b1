"""Who you are: ``login``, ``whoami``, ``token ...``, ``user create``.

A token is printed only where it is created (``token create``); nothing else shows one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from aifactory.cli import output as o
from aifactory.cli.config import get_state, save_credentials
from aifactory.domain.identity import PlatformRole

token_app = typer.Typer(help="API tokens: create, list, revoke.", no_args_is_help=True)
user_app = typer.Typer(help="Users (platform admins).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("login")(login)
    app.command("whoami")(whoami)
    app.add_typer(token_app, name="token")
    app.add_typer(user_app, name="user")


def _describe(me: dict[str, Any]) -> str:
    roles = f" [{', '.join(me['roles'])}]" if me.get("roles") else ""
    return f"{me['name']} <{me['email']}>{roles}"


def login(
    ctx: typer.Context,
    token_file: Annotated[
        Path | None,
        typer.Option("--token-file", help="A file holding a token (e.g. data/admin-token)."),
    ] = None,
    token: Annotated[str | None, typer.Option("--token", help="A token.")] = None,
    email: Annotated[
        str | None, typer.Option("--email", help="Log in with e-mail and password (prompted).")
    ] = None,
) -> None:
    """Check a token with the server and save it, with the URL, for later commands."""
    state = get_state(ctx)
    given = [x for x in (token_file, token, email) if x is not None]
    if len(given) > 1:
        o.fail("give only one of --token-file, --token and --email", 2)
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            o.fail(f"{token_file}: cannot read: {exc.strerror or exc}", 2)
        if not token:
            o.fail(f"{token_file}: the file is empty", 2)
    elif email is not None:
        password = typer.prompt("Password", hide_input=True)
        with state.client(token="") as anonymous:
            token = anonymous.login(email, password)["token"]
    elif token is None:
        token = state.token_option
        if not token:
            o.fail("give --token-file, --token or --email", 2)
    assert token is not None
    with state.client(token=token) as client:
        me = client.me()
    path = save_credentials(state.url, token)
    o.out(f"Logged in to {state.url} as {_describe(me)}")
    o.out(f"Credentials saved to {path}")


def whoami(ctx: typer.Context, output: o.OutputOpt = o.Format.TABLE) -> None:
    """The user behind the current token, and their organisations."""
    state = get_state(ctx)
    me = state.client().me()
    if output is o.Format.JSON:
        o.print_json(me)
        return
    orgs = me.get("organisations") or {}
    o.table(
        ["FIELD", "VALUE"],
        [
            ["server", state.url],
            ["id", me["id"]],
            ["email", me["email"]],
            ["name", me["name"]],
            ["roles", me["roles"]],
            ["organisations", [f"{k} ({v})" for k, v in sorted(orgs.items())]],
        ],
    )


# -- tokens -----------------------------------------------------------------------------------
@token_app.command("create")
def create_token(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name")] = "cli",
    ttl_days: Annotated[int, typer.Option("--ttl-days", min=1, max=3650)] = 90,
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """A new token for you; it is shown this once."""
    tok = get_state(ctx).client().create_token(name, ttl_days)
    if output is o.Format.JSON:
        o.print_json(tok)
        return
    o.out(f"Token {tok['id']} ({tok['name']}), expires {o.when(tok['expires_at'])}.")
    o.out("Shown once; store it now:")
    o.out(tok["token"])


@token_app.command("list")
def list_tokens(ctx: typer.Context, output: o.OutputOpt = o.Format.TABLE) -> None:
    """Your tokens (their prefixes only)."""
    tokens = get_state(ctx).client().list_tokens()
    if output is o.Format.JSON:
        o.print_json(tokens)
        return
    o.table(
        ["ID", "NAME", "PREFIX", "CREATED", "EXPIRES", "REVOKED"],
        (
            [
                t["id"],
                t["name"],
                t["prefix"],
                o.when(t["created_at"]),
                o.when(t["expires_at"]),
                o.when(t["revoked_at"]),
            ]
            for t in tokens
        ),
    )


@token_app.command("revoke")
def revoke_token(
    ctx: typer.Context,
    token_id: Annotated[str, typer.Argument(metavar="ID")],
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Revoke a token; it stops working at once."""
    tok = get_state(ctx).client().revoke_token(token_id)
    if output is o.Format.JSON:
        o.print_json(tok)
        return
    o.out(f"Revoked token {tok['id']} ({tok['name']})")


# -- users ------------------------------------------------------------------------------------
@user_app.command("create")
def create_user(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument()],
    name: Annotated[str, typer.Option("--name", help="Full name.")],
    password_prompt: Annotated[
        bool, typer.Option("--password-prompt", help="Set a password (asked twice).")
    ] = False,
    role: Annotated[
        list[PlatformRole] | None, typer.Option("--role", help="Platform role; repeatable.")
    ] = None,
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Create a user account (platform admins only)."""
    password = None
    if password_prompt:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    user = (
        get_state(ctx)
        .client()
        .create_user(email, name, password=password, roles=[r.value for r in role or ()])
    )
    if output is o.Format.JSON:
        o.print_json(user)
        return
    o.out(f"Created user {_describe(user)} ({user['id']})")
