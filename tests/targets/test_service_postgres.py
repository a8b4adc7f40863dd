"""``target=service_postgres`` on the embedded PostgreSQL (with pg_stat_statements preloaded), driven by
an external ``pgbench -S`` that the test starts. SemaTune only reads the statistics views.

Tolerances, against pgbench's own per-second progress (``-P 1 --progress-timestamp``) over the
window's interval: pg_stat_statements counts at once, so a window's statements are within 15 % + 30
of pgbench's transactions (one statement per select-only transaction; 1 s progress resolution);
backends flush pg_stat_database about once a second, so the window's transactions are within
40 % on 3 s windows; the mean statement time is positive and below pgbench's mean transaction latency (which
adds the round trip); a window without load has tps 0 (SemaTune's own reading transactions are
taken out) and is idle.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from sematune.engine import guards
from sematune.targets.postgres import PostgresCluster, find_install
from sematune.targets.postgres.pgbench_output import parse_summary
from sematune.targets.service import ServiceTarget
from tests.targets.test_service_http import run_sematune
from tests.tracking.servers import postgres_database

pytestmark = pytest.mark.benchmark_smoke
DB = "service_probe"
PROGRESS = re.compile(r"progress: ([0-9.]+) s, ([0-9.]+) tps")


@pytest.fixture
def server(pg_cache_dir: Path) -> Iterator[PostgresCluster]:
    install = find_install()
    with postgres_database(pg_cache_dir / install.key, DB, {"shared_preload_libraries": "pg_stat_statements"},
                           timeout_s=600) as cluster:
        with cluster.connect(DB) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
        done = subprocess.run([install.exe("pgbench"), "-i", "-s", "1", "-q", *cluster.client_args(DB)],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        yield cluster


def pgbench(cluster: PostgresCluster, seconds: int) -> subprocess.Popen:
    argv = [cluster.install.exe("pgbench"), "-n", "-S", "-c", "2", "-j", "2", "-T", str(seconds), "-P", "1",
            "--progress-timestamp", *cluster.client_args(DB)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def transactions_between(pgbench_output: str, t0: float, t1: float) -> float:
    """pgbench's own count of transactions in [t0, t1], from its per-second progress lines."""
    total = 0.0
    for ts, tps in PROGRESS.findall(pgbench_output):
        end = float(ts)
        total += float(tps) * max(0.0, min(end, t1) - max(end - 1.0, t0))
    return total


def test_windows_match_pgbench_and_idle_is_detected(server: PostgresCluster, tmp_path: Path) -> None:
    target = ServiceTarget(source={"kind": "postgres", "conninfo": server.conninfo(DB), "databases": [DB]},
                           attach={"pids": [server.pid]}, sample_interval_s=1.0)
    target.results_dir = tmp_path / "results"
    assert target.pre_execute() and server.pid in target.processes() and len(target.processes()) >= 3
    bench = pgbench(server, 8)
    time.sleep(1.0)
    windows = [target.execute_window(i, 3.0) for i in range(2)]
    out = bench.communicate(timeout=120)[0]
    assert bench.returncode == 0, out
    client = parse_summary(out)
    for i, m in enumerate(windows):
        extra = m.extra_metrics
        meta = json.loads((tmp_path / "results" / "windows" / f"{i:04d}" / "service_metrics.json").read_text())
        seconds = meta["seconds"]
        expected = transactions_between(out, meta["started_at"], meta["started_at"] + seconds)
        assert expected > 50
        calls = extra["service/calls_per_s"] * seconds
        assert abs(calls - expected) <= 0.15 * expected + 30, (calls, expected)
        assert abs(m.throughput * seconds - expected) <= 0.40 * expected, (m.throughput * seconds, expected)
        assert 0 < m.latency_avg < client.latency_avg_ms
        assert m.latency_avg <= extra["service/stmt_time_p95_est_ms"] < client.latency_avg_ms * 20
        assert extra["service/cache_hit_ratio"] > 0.9 and extra["service/rollbacks_per_s"] == 0
    time.sleep(1.2)  # the last pgbench counts reach pg_stat_database
    idle = target.execute_window(2, 1.5)
    assert idle.throughput == 0.0 and idle.extra_metrics["service/calls_per_s"] == 0.0 and idle.latency_avg is None
    assert guards.idle_note(idle, guards.MinTraffic(metric="throughput", min=1)) is not None
    target.cleanup()
    assert server.running


def test_postgres_preset_through_the_cli(server: PostgresCluster, cli, sandbox) -> None:
    bench = pgbench(server, 120)
    try:
        records, summary = run_sematune(
            cli, sandbox, "target=service_postgres", f"target.source.conninfo='{server.conninfo(DB)}'",
            f"target.attach.pids=[{server.pid}]", "loop.tuning_windows=1", "loop.stable_windows=0",
            "loop.window_seconds=2", "loop.min_traffic={metric: service/calls_per_s, min: 10}",
            "objective.metric=latency_avg", "objective.goal=minimize")
    finally:
        bench.kill()
        bench.wait()
    assert [r.status for r in records] == ["ok", "ok"], [r.error for r in records]
    assert all(r.objective == r.metrics.latency_avg > 0 and r.metrics.system["target_processes"] >= 3
               for r in records)
    assert summary["goal"] == "minimize" and server.running
