"""Template databases built once and cloned per run, so database growth never drifts across runs."""

from __future__ import annotations

import logging
import os
import time
from typing import Callable, Optional

from sematune.targets.postgres._cluster import PostgresCluster

log = logging.getLogger(__name__)

TEMPLATE_PREFIX = "st_tpl_"
CLONE_PREFIX = "st_run_"
_READY = "sematune-template ready"


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum() or len(name) > 63:
        raise ValueError(f"not a safe database name: {name!r}")
    return f'"{name}"'


def template_ready(cluster: PostgresCluster, name: str) -> bool:
    """Whether ``name`` exists and its build finished (marked by a database comment)."""
    with cluster.connect() as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
    return bool(row and row[0] == _READY)


def drop_database(cluster: PostgresCluster, name: str) -> None:
    """Drop ``name`` if it exists, disconnecting anyone still on it."""
    with cluster.connect() as conn:
        row = conn.execute("SELECT datistemplate FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if row is None:
            return
        if row[0]:
            conn.execute(f"ALTER DATABASE {_ident(name)} IS_TEMPLATE false")
        conn.execute(f"DROP DATABASE {_ident(name)} WITH (FORCE)")


def ensure_template(cluster: PostgresCluster, name: str, build: Callable[[str], None]) -> Optional[float]:
    """Build template ``name`` with ``build(dbname)`` unless a finished one exists.

    Returns the build time in seconds, or None when the cached template was reused. A build
    that was interrupted (no ready mark) is dropped and redone.
    """
    if template_ready(cluster, name):
        return None
    started = time.perf_counter()
    drop_database(cluster, name)
    with cluster.connect() as conn:
        conn.execute(f"CREATE DATABASE {_ident(name)}")
    build(name)
    with cluster.connect() as conn:
        conn.execute("CHECKPOINT")
        conn.execute(f"ALTER DATABASE {_ident(name)} IS_TEMPLATE true")
        conn.execute(f"COMMENT ON DATABASE {_ident(name)} IS '{_READY}'")
    seconds = time.perf_counter() - started
    log.info("built template database %s in %.1f s", name, seconds)
    return seconds


def clone_database(cluster: PostgresCluster, template: str, name: Optional[str] = None) -> tuple[str, float]:
    """``CREATE DATABASE … TEMPLATE`` (file copy: fast for a fresh template). Returns (name, seconds)."""
    name = name or f"{CLONE_PREFIX}{os.getpid()}"
    strategy = " STRATEGY FILE_COPY" if cluster.install.major >= 15 else ""
    started = time.perf_counter()
    drop_database(cluster, name)
    with cluster.connect() as conn:
        conn.execute(f"CREATE DATABASE {_ident(name)} TEMPLATE {_ident(template)}{strategy}")
    return name, time.perf_counter() - started


def drop_stale_clones(cluster: PostgresCluster) -> list[str]:
    """Drop run databases that killed runs left behind (call with the cluster lock held)."""
    with cluster.connect() as conn:
        names = [r[0] for r in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (CLONE_PREFIX + "%",)
        ).fetchall()]
    for name in names:
        log.warning("dropping database %s left by an earlier run", name)
        drop_database(cluster, name)
    return names


def prewarm(cluster: PostgresCluster, dbname: str) -> Optional[int]:
    """Load ``dbname``'s tables and indexes into shared buffers (``pg_prewarm``), so the first
    window does not measure a cold cache. Returns blocks read, or None without the extension."""
    with cluster.connect(dbname) as conn:
        if conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_prewarm'").fetchone() is None:
            return None
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        row = conn.execute(
            "SELECT coalesce(sum(pg_prewarm(c.oid)), 0) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i')"
        ).fetchone()
    return int(row[0]) if row else 0
