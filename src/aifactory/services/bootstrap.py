"""First start: migrate the database and create the first admin with an API token."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from aifactory.db.engine import Database
from aifactory.db.migrate import upgrade
from aifactory.db.tables import User
from aifactory.domain.catalog import Catalog
from aifactory.domain.identity import PlatformRole
from aifactory.services import audit, calls, identity
from aifactory.services.identity import Principal
from aifactory.services.ids import utcnow
from aifactory.settings import Settings


@dataclass(frozen=True)
class AdminInit:
    created: bool
    email: str
    token_file: Path | None


def write_secret_file(path: Path, content: str) -> None:
    """Create ``path`` readable by its owner only (never world-readable, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(content)
    os.chmod(path, 0o600)


def init_admin(
    db: Database, settings: Settings, *, email: str = "admin@localhost", name: str = "Administrator"
) -> AdminInit:
    """Create the first admin if no admin exists; write its token to ``admin_token_file``."""
    with db.write() as session:
        users = session.execute(select(User)).scalars().all()
        if any(PlatformRole.ADMIN.value in u.platform_roles for u in users):
            return AdminInit(False, email, None)
        user = identity.create_user(
            session,
            email=email,
            name=name,
            password=None,
            roles=frozenset({PlatformRole.ADMIN}),
        )
        _, plain = identity.issue_token(
            session,
            user_id=user.id,
            name="admin-init",
            ttl=timedelta(days=settings.token_ttl_days),
            actor=user.id,
        )
        path = settings.admin_token_file.resolve()
        write_secret_file(path, plain + "\n")
    return AdminInit(True, email, path)


def open_default_calls(db: Database, settings: Settings, catalog: Catalog) -> int:
    """The embedded default: one call of each access mode on this machine's partition, opened
    once, so that a new user can apply at once (``default_calls`` setting)."""
    if not settings.default_calls:
        return 0
    system = Principal(
        user_id=audit.SYSTEM_ACTOR, email="system", roles=frozenset({PlatformRole.ADMIN})
    )
    with db.write() as session:
        return len(calls.open_default_calls(session, system, catalog, utcnow()))


def prepare(settings: Settings) -> None:
    """Data directory and schema; safe to run on every start."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.jobs_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)
