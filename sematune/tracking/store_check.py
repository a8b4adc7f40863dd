"""Check the tracking store answers, with a short timeout, before the run touches the host."""

from __future__ import annotations

import socket
import sqlite3
import urllib.error
import urllib.request
from urllib.parse import urlparse

from sematune.errors import ConfigError
from sematune.tracking.mlflow_tracker import resolve_tracking_uri

KEY = "tracking.tracking_uri"
#: Seconds a store may take to answer before the run is refused.
TIMEOUT_S = 5.0


def _sqlite(uri: str) -> None:
    path = resolve_tracking_uri(uri)[len("sqlite:///"):]
    if not path or path == ":memory:":
        return
    try:
        conn = sqlite3.connect(path, timeout=TIMEOUT_S)
        try:
            conn.execute("pragma schema_version").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise ConfigError(KEY, f"{uri!r}: cannot open the SQLite store ({exc})") from None


def _http(uri: str) -> None:
    try:
        urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=TIMEOUT_S).close()
    except urllib.error.HTTPError:
        return  # it answered: a server is there
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConfigError(KEY, f"{uri!r}: the tracking server does not answer ({reason})") from None


def _tcp(uri: str, default_port: int) -> None:
    parsed = urlparse(uri)
    try:
        socket.create_connection((parsed.hostname or "localhost", parsed.port or default_port), TIMEOUT_S).close()
    except (OSError, ValueError) as exc:
        raise ConfigError(KEY, f"{uri!r}: the database does not answer ({exc})") from None


def check_tracking_store(uri: str) -> None:
    """Raise :class:`ConfigError` (exit 2) naming ``tracking.tracking_uri`` if the store is unusable."""
    if not uri.strip():
        raise ConfigError(KEY, "empty (use e.g. sqlite:///mlflow.db, or tracking.enabled=false)")
    scheme = urlparse(uri).scheme
    if scheme == "sqlite":
        _sqlite(uri)
    elif scheme in ("http", "https"):
        _http(uri)
    elif scheme.startswith(("postgresql", "mysql", "mssql")):
        _tcp(uri, {"postgresql": 5432, "mysql": 3306}.get(scheme.split("+")[0], 1433))
