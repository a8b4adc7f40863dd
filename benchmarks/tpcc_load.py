"""TPC-C template build (load) time and per-run clone time.

    python benchmarks/tpcc_load.py [--warehouses 2] [--clones 5] [--cache-dir DIR]

Builds the TPC-C template from scratch in a fresh cache dir (unless ``--cache-dir`` names a
kept one, whose template is then rebuilt), printing the loader's phases, the database size,
and the time of ``--clones`` template clones (``CREATE DATABASE … TEMPLATE … STRATEGY
FILE_COPY``, what every run does), each dropped again. Run it as root or as the server's user.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from sematune.targets.postgres import (
    PostgresCluster, clone_database, drop_database, ensure_template, find_install, resolve_run_user,
)
from sematune.targets.tpcc import _loader


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouses", type=int, default=2)
    parser.add_argument("--clones", type=int, default=5)
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()
    cache = args.cache_dir or Path(tempfile.mkdtemp(prefix="sematune-bench-pg-"))
    cache.chmod(0o755)
    install = find_install()
    cluster = PostgresCluster(install, cache / install.key, user=resolve_run_user())
    cluster.acquire()
    try:
        t0 = time.perf_counter()
        cluster.start()
        start_s = time.perf_counter() - t0
        name = f"st_tpl_tpcc_w{args.warehouses}_{_loader.schema_version()}"
        drop_database(cluster, name)
        timings: dict[str, float] = {}

        def build(db: str) -> None:
            timings.update(_loader.load(lambda: cluster.connect(db), args.warehouses))

        total = ensure_template(cluster, name, build)
        with cluster.connect() as conn:
            size = conn.execute("SELECT pg_database_size(%s)", (name,)).fetchone()[0]
        clones = []
        for _ in range(args.clones):
            clone, seconds = clone_database(cluster, name, "st_run_bench")
            clones.append(seconds)
            drop_database(cluster, clone)
    finally:
        cluster.stop()
        cluster.release()
        if args.cache_dir is None:
            shutil.rmtree(cache, ignore_errors=True)
    print(f"PostgreSQL {install.version}, {os.cpu_count()} CPUs, {args.warehouses} warehouse(s)")
    print(f"cluster init+start (fresh): {start_s:.2f} s")
    print("load phases: " + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()))
    print(f"template build total (create, load, checkpoint): {total:.2f} s; size {size / 2**20:.0f} MiB")
    print(f"clone: median {statistics.median(clones):.2f} s, min {min(clones):.2f} s, max {max(clones):.2f} s "
          f"over {len(clones)}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
