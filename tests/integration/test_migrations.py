"""The schema comes only from the migrations, the same history on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from aifactory.db.engine import Database, normalise_url
from aifactory.db.migrate import downgrade, upgrade
from aifactory.db.tables import Base
from tests.conftest import Databases


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, databases: Databases, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    import psycopg

    url = databases.postgres()  # a migrated clone; empty it by downgrading to base
    downgrade(url, "base")
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema='public' "
            "AND table_name <> 'alembic_version'"
        ).fetchone() == (0,)
    return url


def test_migrations_build_exactly_the_declared_tables(empty_url: str) -> None:
    upgrade(empty_url)
    engine = create_engine(normalise_url(empty_url))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        head = conn.execute(text("SELECT seq, hash FROM audit_head")).one()
    engine.dispose()
    assert diff == [], f"tables and migrations disagree: {diff}"
    assert head == (0, "0" * 64)


def test_downgrade_to_base_and_upgrade_again(empty_url: str) -> None:
    upgrade(empty_url)
    downgrade(empty_url, "base")
    engine = create_engine(normalise_url(empty_url))
    tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    engine.dispose()
    assert tables == set()
    upgrade(empty_url)
    upgrade(empty_url)  # a second upgrade is a no-op


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    upgrade(url)
    db = Database(url)
    with db.read() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
    db.dispose()
