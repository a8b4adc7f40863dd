"""Build a TPC-C database: schema, server-side load in parallel, keys, vacuum."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Callable

log = logging.getLogger(__name__)

#: Package data, applied in this order (indexes.sql runs after the load, statement by statement).
SQL_FILES = ("schema.sql", "random.sql", "load.sql", "transactions.sql", "indexes.sql")
#: Largest first, so parallel maintenance finishes together.
TABLES = ("order_line", "stock", "customer", "orders", "history", "item", "new_order", "district", "warehouse")


def sql_text(name: str) -> str:
    return resources.files("sematune.targets.tpcc").joinpath("sql").joinpath(name).read_text(encoding="utf-8")


def schema_version() -> str:
    """Hash of the SQL files: a template built from other SQL is never reused."""
    digest = hashlib.sha1()
    for name in SQL_FILES:
        digest.update(sql_text(name).encode())
    return digest.hexdigest()[:8]


def _statements(script: str) -> list[str]:
    lines = [ln for ln in script.splitlines() if ln.strip() and not ln.lstrip().startswith("--")]
    return [ln.strip() for ln in lines]


def load(connect: Callable[[], object], warehouses: int, workers: int | None = None) -> dict[str, float]:
    """Create and fill the nine tables for ``warehouses`` warehouses; returns phase timings (s).

    ``connect()`` returns a new autocommit psycopg connection to the (empty) target database.
    Items and each warehouse load on their own connection, then keys are built in parallel.
    """
    workers = max(1, min(workers or (os.cpu_count() or 2), warehouses + 1))
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with connect() as conn:  # type: ignore[attr-defined]
        for name in SQL_FILES[:-1]:
            conn.execute(sql_text(name))
    timings["schema_s"] = time.perf_counter() - started

    def run(sql: str) -> None:
        with connect() as conn:  # type: ignore[attr-defined]
            conn.execute("SET synchronous_commit = off")
            conn.execute("SET maintenance_work_mem = '256MB'")
            conn.execute(sql)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        jobs = ["SELECT tpcc_load_items()"] + [f"SELECT tpcc_load_warehouse({w})" for w in range(1, warehouses + 1)]
        list(pool.map(run, jobs))
        timings["data_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        list(pool.map(run, _statements(sql_text("indexes.sql"))))
        timings["keys_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        list(pool.map(run, [f"VACUUM (FREEZE, ANALYZE) {table}" for table in TABLES]))
        timings["vacuum_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - started
    log.info("loaded TPC-C with %d warehouse(s) in %.1f s (%s)", warehouses, timings["total_s"],
             ", ".join(f"{k} {v:.2f}" for k, v in timings.items() if k != "total_s"))
    return timings

