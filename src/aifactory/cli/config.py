"""Where the CLI connects and with which token: options, environment, the credentials file.

Order: ``--url`` / ``AIF_URL``, else the URL saved by ``aif login``, else the default. The
token: ``--token`` / ``AIF_TOKEN``, else the saved token, but only when it was saved for the
same URL, so that a token never travels to a server it was not issued by.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import typer

from aifactory.sdk import Client

DEFAULT_URL = "http://127.0.0.1:8000"
CREDENTIALS_FILE = "credentials.json"


def default_client_factory(url: str, token: str | None) -> Client:
    return Client(url, token)


# The one place the CLI makes an SDK client; tests point it at an in-process app.
client_factory: Callable[[str, str | None], Client] = default_client_factory


def config_dir() -> Path:
    """``$AIF_CONFIG_HOME``, else ``$XDG_CONFIG_HOME/aifactory``, else ``~/.config/aifactory``."""
    explicit = os.environ.get("AIF_CONFIG_HOME")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg else Path.home() / ".config"
    return base / "aifactory"


def credentials_path() -> Path:
    return config_dir() / CREDENTIALS_FILE


@dataclass(frozen=True)
class Credentials:
    url: str
    token: str = field(repr=False)


def load_credentials() -> Credentials | None:
    path = credentials_path()
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    url, token = data.get("url"), data.get("token")
    if not isinstance(url, str) or not isinstance(token, str):
        return None
    return Credentials(url, token)


def save_credentials(url: str, token: str) -> Path:
    """Write the credentials file readable by its owner only (never world-readable, even
    briefly); returns its path."""
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"url": normalise_url(url), "token": token}, fh)
        fh.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def normalise_url(url: str) -> str:
    return url.strip().rstrip("/")


@dataclass
class State:
    """Global options of one ``aif`` invocation; the client is made on first use."""

    url_option: str | None = None
    token_option: str | None = field(default=None, repr=False)
    _client: Client | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        if self.url_option:
            return normalise_url(self.url_option)
        saved = load_credentials()
        return normalise_url(saved.url) if saved else DEFAULT_URL

    @property
    def token(self) -> str | None:
        if self.token_option:
            return self.token_option
        saved = load_credentials()
        if saved and normalise_url(saved.url) == self.url:
            return saved.token
        return None

    def client(self, token: str | None = None) -> Client:
        """The client for this invocation; ``token`` makes a separate one (``aif login``)."""
        if token is not None:
            return client_factory(self.url, token)
        if self._client is None:
            self._client = client_factory(self.url, self.token)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def get_state(ctx: typer.Context) -> State:
    """The invocation's :class:`State` (made by the root callback)."""
    return ctx.ensure_object(State)
