"""Settings: AIF_ environment variables, an optional TOML file, unsafe defaults refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from aifactory.settings import DEV_SECRET, Mode, load_settings


def test_defaults_put_sqlite_in_the_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.mode is Mode.DEVELOPMENT
    assert (s.host, s.port, s.local_slots) == ("127.0.0.1", 8000, 4)
    assert s.effective_database_url == f"sqlite:///{tmp_path / 'data' / 'aifactory.db'}"


def test_environment_variables_use_the_aif_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIF_PORT", "9100")
    monkeypatch.setenv("AIF_LOCAL_SLOTS", "2")
    monkeypatch.setenv("AIF_DATABASE_URL", "postgresql://u@h/db")
    s = load_settings()
    assert (s.port, s.local_slots, s.effective_database_url) == (9100, 2, "postgresql://u@h/db")


def test_a_toml_file_is_read_and_env_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "aif.toml"
    cfg.write_text('port = 9200\nlocal_slots = 8\nhost = "0.0.0.0"\n')
    monkeypatch.setenv("AIF_CONFIG_FILE", str(cfg))
    monkeypatch.setenv("AIF_LOCAL_SLOTS", "3")
    s = load_settings()
    assert (s.port, s.local_slots, s.host) == (9200, 3, "0.0.0.0")


def test_production_refuses_the_default_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIF_MODE", "production")
    with pytest.raises(ValidationError, match="secret_key"):
        load_settings()
    monkeypatch.setenv("AIF_SECRET_KEY", "x" * 40)
    assert load_settings().secret_key.get_secret_value() != DEV_SECRET


def test_development_accepts_the_default_secret() -> None:
    assert load_settings(mode="development").secret_key.get_secret_value() == DEV_SECRET


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AIF_PORT", "0"),
        ("AIF_PORT", "70000"),
        ("AIF_LOCAL_SLOTS", "0"),
        ("AIF_MODE", "prod"),
        ("AIF_NO_SUCH_SETTING", "1"),
    ],
)
def test_bad_values_are_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    if name == "AIF_NO_SUCH_SETTING":
        # Unknown environment variables are ignored (the environment holds many); unknown keys
        # in the TOML file are refused below.
        load_settings()
        return
    with pytest.raises(ValidationError, match=name.removeprefix("AIF_").lower()):
        load_settings()


def test_unknown_keys_in_the_toml_file_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cfg = tmp_path / "aif.toml"
    cfg.write_text("prot = 1\n")
    monkeypatch.setenv("AIF_CONFIG_FILE", str(cfg))
    with pytest.raises(ValidationError, match="prot"):
        load_settings()
