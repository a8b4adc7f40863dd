"""TPC-C: config checks, window summaries and metrics, the pgbench backend's parser, real runs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from sematune.engine.records import read_history
from sematune.errors import ConfigError, TargetError
from sematune.targets.tpcc import TpccTarget, check_consistency
from sematune.targets.tpcc._driver import COMMIT, ERROR, ROLLBACK
from sematune.targets.tpcc._loader import SQL_FILES, schema_version, sql_text
from sematune.targets.tpcc._pgbench import pgbench_command, summarize_pgbench, write_scripts
from sematune.targets.tpcc._summary import metrics_from_summary, summarize_records

FIXTURES = Path(__file__).parent / "fixtures"
MS = 1_000_000


# -- config -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"warehouses": 0}, "target.warehouses"),
        ({"clients": "8"}, "target.clients"),
        ({"driver": "jdbc"}, "target.driver"),
        ({"rate": -5}, "target.rate"),
        ({"arrivals": "bursty"}, "target.arrivals"),
        ({"mix": {"new_order": 1, "refund": 2}}, "target.mix"),
        ({"mix": {"new_order": 0}}, "target.mix"),
        ({"driver": "pgbench", "think_time_scale": 1.0}, "target.think_time_scale"),
        ({"rate": 100, "think_time_scale": 0.1}, "target.think_time_scale"),
        ({"workload_change": {"every": 0, "clients": [2]}}, "target.workload_change.every"),
        ({"workload_change": {"every": 2}}, "target.workload_change"),
        ({"workload_change": {"every": 2, "threads": [1]}}, "target.workload_change"),
        ({"warmup_s": -1}, "target.warmup_s"),
    ],
)
def test_bad_config_names_the_key(kwargs: dict, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        TpccTarget(**kwargs)
    assert info.value.key == key


def test_stability_settings_sit_beneath_the_users_server_settings() -> None:
    assert TpccTarget().server_settings["checkpoint_timeout"] == "1h"
    assert TpccTarget(server_settings={"checkpoint_timeout": "5min"}).server_settings["checkpoint_timeout"] == "5min"
    assert "max_wal_size" not in TpccTarget(stable_server=False).server_settings


def test_defaults_and_objective() -> None:
    target = TpccTarget()
    assert target.default_objective == ("tpmC", "maximize")
    assert (target.warehouses, target.clients, target.driver_kind) == (2, 8, "psycopg")
    assert target.mix == {"new_order": 45, "payment": 43, "order_status": 4, "delivery": 4, "stock_level": 4}
    assert target.template_name() == f"st_tpl_tpcc_w2_{schema_version()}"
    assert TpccTarget(objective={"metric": "latency_p99", "goal": "minimize"}).default_objective == (
        "latency_p99", "minimize")


def test_sql_is_package_data_and_versioned() -> None:
    for name in SQL_FILES:
        assert sql_text(name).strip()
    assert "CREATE TABLE order_line" in sql_text("schema.sql")
    for fn in ("tpcc_new_order", "tpcc_payment", "tpcc_order_status", "tpcc_delivery", "tpcc_stock_level"):
        assert f"FUNCTION {fn}(" in sql_text("transactions.sql")
    assert len(schema_version()) == 8 and schema_version() == schema_version()


def test_workload_change_cycles_clients_and_rate() -> None:
    target = TpccTarget(clients=8, workload_change={"every": 2, "clients": [8, 2], "rate": [300, 100]})
    seen = []
    for window in range(6):
        target.update_workload(window)
        seen.append((target._current_clients, target._current_rate))
    assert seen == [(8, 300), (8, 300), (2, 100), (2, 100), (8, 300), (8, 300)]


# -- summaries and metrics --------------------------------------------------------------------------
def test_metrics_count_commits_rollbacks_and_errors() -> None:
    records = (
        [(i, 0, 10 * MS, COMMIT, 0) for i in range(90)]       # New-Order committed
        + [(i, 0, 10 * MS, ROLLBACK, 0) for i in range(10)]   # the spec's rollbacks
        + [(i, 1, 20 * MS, COMMIT, 1) for i in range(80)]     # Payment, one retry each
        + [(i, 3, 50 * MS, ERROR, 9) for i in range(20)]      # Delivery failed after retries
    )
    metrics = metrics_from_summary(summarize_records(records, 2.0))
    assert metrics.throughput == pytest.approx(170 / 2.0)
    assert metrics.goodput == pytest.approx(180 / 2.0)
    extra = metrics.extra_metrics
    assert extra["tpmC"] == pytest.approx(60 * 100 / 2.0)
    assert extra["rollback_rate"] == pytest.approx(0.1)
    assert extra["error_rate"] == pytest.approx(20 / 200)
    assert extra["retry_rate"] == pytest.approx((80 + 180) / 200)
    # latency over completed transactions only (errors excluded)
    assert metrics.latency_avg == pytest.approx((100 * 10 + 80 * 20) / 180)
    assert extra["new_order_latency_avg"] == pytest.approx(10.0)
    assert extra["payment_latency_p95"] == pytest.approx(20.0)
    assert "delivery_latency_avg" not in extra and extra["delivery_tps"] == 0.0
    assert extra["latency_p99"] == pytest.approx(20.0) and extra["latency_p50"] == pytest.approx(10.0)


def test_empty_window_has_zero_throughput_and_missing_latency() -> None:
    metrics = metrics_from_summary(summarize_records([], 1.0))
    assert metrics.throughput == 0.0 and metrics.extra_metrics["tpmC"] == 0.0
    assert metrics.latency_avg is None and metrics.latency_p95 is None
    assert "latency_p99" not in metrics.extra_metrics and "error_rate" not in metrics.extra_metrics


def test_summary_needs_a_duration() -> None:
    with pytest.raises(TargetError, match="duration_s"):
        metrics_from_summary({"types": {}})


# -- the pgbench backend ---------------------------------------------------------------------------
def test_pgbench_backend_command(tmp_path: Path) -> None:
    scripts = write_scripts(tmp_path)
    assert scripts["stock_level"].read_text().startswith("\\set w random(1, :nw)")
    mix = {"new_order": 45, "payment": 43, "order_status": 4, "delivery": 0, "stock_level": 4}
    cmd, order = pgbench_command("pgbench", ["-h", "127.0.0.1", "db"], scripts, mix, warehouses=2, clients=8,
                                 threads=2, duration_s=5, max_tries=10, rate=300)
    assert order == ["new_order", "payment", "order_status", "stock_level"]
    assert cmd[:2] == ["pgbench", "-n"] and cmd[-2:] == ["127.0.0.1", "db"]
    assert "-D" in cmd and "nw=2" in cmd and "--max-tries=10" in cmd and "-R" in cmd
    assert f"{scripts['new_order']}@45" in cmd and not any("delivery" in a for a in cmd)


def _pgbench_window(tmp_path: Path) -> Path:
    out = tmp_path / "window"
    shutil.copytree(FIXTURES / "tpcc_pgbench_window", out)
    return out


def test_pgbench_backend_summary_from_real_output(tmp_path: Path) -> None:
    out = _pgbench_window(tmp_path)
    summary = summarize_pgbench(out, (out / "pgbench.out").read_text(), (out / "pgbench.err").read_text())
    no = summary["types"]["new_order"]
    assert no["commit"] == 30422 - 30218  # from the d_next_o_id counter
    assert no["commit"] + no["rollback"] > 0 and no["rollback"] >= 0
    metrics = metrics_from_summary(summary)
    assert metrics.throughput > 0 and metrics.latency_p95 >= metrics.extra_metrics["latency_p50"]
    assert metrics.extra_metrics["tpmC"] == pytest.approx(60 * (no["commit"] + no["rollback"]) / 2.0)
    total = sum(t["commit"] + t["rollback"] for t in summary["types"].values())
    assert total == int((out / "pgbench.out").read_text().split("actually processed: ")[1].split()[0])


def test_pgbench_backend_partial_and_missing_output(tmp_path: Path) -> None:
    out = _pgbench_window(tmp_path)
    text = (out / "pgbench.out").read_text()
    with pytest.raises(TargetError, match="no report"):
        summarize_pgbench(out, text.split("duration:")[0], "")
    for log in out.glob("tx.*"):
        log.unlink()
    with pytest.raises(TargetError, match="log"):
        summarize_pgbench(out, text, "")
    (out / "counters.json").unlink()
    with pytest.raises(TargetError, match="counters.json"):
        summarize_pgbench(out, text, "")


def test_pgbench_backend_aborted_run_is_an_error(tmp_path: Path) -> None:
    out = _pgbench_window(tmp_path)
    with pytest.raises(TargetError, match="aborted"):
        summarize_pgbench(out, (out / "pgbench.out").read_text(), "pgbench: error: Run was aborted; the above")


# -- real runs -------------------------------------------------------------------------------------
def _two_windows(cli, sandbox: Path, pg_cache_dir: Path, *overrides: str) -> list:
    result = cli("target=tpcc", "tuner=fixed", "osparam=[vm_swappiness]", f"host_root={sandbox}", "experiment=quick",
                 "loop.tuning_windows=1", "loop.stable_windows=0", "loop.window_seconds=1.5",
                 "loop.settle_seconds=0.5", "tracking.enabled=false", "target.warehouses=1",
                 f"target.cache_dir={pg_cache_dir}", *overrides, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    histories = list((cli.cwd / "outputs").glob("**/history.jsonl"))
    assert len(histories) == 1
    records = read_history(histories[0])
    assert [r.status for r in records] == ["ok", "ok"], [r.error for r in records]
    return records


@pytest.mark.benchmark_smoke
@pytest.mark.parametrize("driver", ["psycopg", "pgbench"])
def test_two_real_windows_through_the_cli(cli, sandbox: Path, pg_cache_dir: Path, driver: str) -> None:
    records = _two_windows(cli, sandbox, pg_cache_dir, f"target.driver={driver}")
    for record in records:
        m = record.metrics
        assert m.extra_metrics["tpmC"] > 0 and m.throughput > 0 and m.goodput >= m.throughput
        assert 0 < m.latency_avg and m.latency_p95 <= m.extra_metrics["latency_p99"]
        assert m.extra_metrics["new_order_latency_avg"] > 0 and m.extra_metrics["error_rate"] == 0.0
        assert record.objective == m.extra_metrics["tpmC"]
        assert m.system.get("target_processes", 0) >= 3  # the postmaster's tree is accounted as own CPU
    assert not _our_postgres(pg_cache_dir)


def _our_postgres(pg_cache_dir: Path) -> list[int]:
    pids = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            if proc.info["name"] == "postgres" and any(str(pg_cache_dir) in a for a in proc.info["cmdline"] or []):
                pids.append(proc.pid)
        except psutil.Error:
            continue
    return pids


def _kill_backends(target: TpccTarget) -> int:
    with target.cluster.connect() as conn:  # type: ignore[union-attr]
        return conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
                            (target.dbname,)).fetchone()[0]


@pytest.mark.benchmark_smoke
@pytest.mark.parametrize(("driver", "kill"), [("psycopg", False), ("pgbench", False), ("psycopg", True)],
                         ids=["psycopg", "pgbench", "psycopg-backends-killed"])
def test_consistency_holds_after_a_run(pg_cache_dir: Path, tmp_path: Path, driver: str, kill: bool) -> None:
    """All twelve consistency conditions hold after both drivers' windows (and after backends were killed
    mid-transaction); Delivery really ran, so its conditions (5, 7, 10, 12) saw delivered orders."""
    window_s = 3.0
    target = TpccTarget(warehouses=1, clients=4, driver=driver, cache_dir=str(pg_cache_dir), warmup_s=0,
                        results_dir=str(tmp_path / "results"))
    target.pre_execute()
    try:
        assert target.cluster is not None and target.dbname
        with target.cluster.connect(target.dbname) as conn:
            assert check_consistency(conn) == {}, "the fresh clone is inconsistent"
            orders0 = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
            started = conn.execute("SELECT now()").fetchone()[0]
            # stable_server: no checkpoint within a run, small frequent autovacuum rounds
            assert conn.execute("SHOW checkpoint_timeout").fetchone()[0] == "1h"
            assert conn.execute("SHOW autovacuum_naptime").fetchone()[0] == "1s"
        killed: list[int] = []
        timer = threading.Timer(1.0, lambda: killed.append(_kill_backends(target)))
        if kill:
            timer.start()
        metrics = [target.execute_window(w, window_s) for w in range(2)]
        timer.cancel()
        assert killed == ([4] if kill else [])
        for m in metrics:  # the server's background work is counted per window
            assert m.extra_metrics["server_checkpoints"] >= 0 and m.extra_metrics["server_autovacuums"] >= 0
        target.stop_workload()
        with target.cluster.connect(target.dbname) as conn:
            assert check_consistency(conn) == {}
            grown = conn.execute("SELECT count(*) FROM orders").fetchone()[0] - orders0
            assert conn.execute("SELECT count(*) FROM history WHERE h_date >= %s AND h_amount <> 10.00",
                                (started,)).fetchone()[0] > 0  # Payment ran
            assert conn.execute("SELECT count(*) FROM order_line WHERE ol_delivery_d >= %s",
                                (started,)).fetchone()[0] > 0  # Delivery ran
        assert grown >= sum(m.extra_metrics["tpmC"] * window_s / 60 * (1 - m.extra_metrics.get("rollback_rate", 0))
                            for m in metrics) * 0.99
        assert (metrics[0].extra_metrics["error_rate"] > 0) == kill
        # a broken invariant is detected: move money out of one district only
        with target.cluster.connect(target.dbname) as conn:
            conn.execute("UPDATE district SET d_ytd = d_ytd + 1 WHERE d_w_id = 1 AND d_id = 1")
            assert {1, 9} <= set(check_consistency(conn))
    finally:
        target.cleanup()
    assert target.cluster is None and not _our_postgres(pg_cache_dir)


@pytest.mark.benchmark_smoke
def test_cluster_is_stopped_after_sigterm_mid_window(sandbox: Path, pg_cache_dir: Path, tmp_path: Path,
                                                     state_dir: Path) -> None:
    """SIGTERM in tuning window 1 (vm_swappiness written): the cluster stops and the host is back byte for byte."""
    swappiness = sandbox / "proc/sys/vm/swappiness"
    before = swappiness.read_bytes()
    work = tmp_path / "work"
    work.mkdir()
    log = open(tmp_path / "run.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sematune", "target=tpcc", "tuner=fixed", "osparam=[vm_swappiness]",
         "+tuner.parameters={vm_swappiness: 7}", f"host_root={sandbox}", "experiment=quick",
         "loop.tuning_windows=2", "loop.stable_windows=0", "loop.window_seconds=5", "tracking.enabled=false",
         "target.warehouses=1", f"target.cache_dir={pg_cache_dir}"],
        cwd=work, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "SEMATUNE_STATE_DIR": str(state_dir)},
    )
    pids: list[int] = []
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if list(work.glob("outputs/**/target/windows/0001")) and swappiness.read_bytes() == b"7":
                pids = _our_postgres(pg_cache_dir)  # window 1 runs on the written value
                break
            time.sleep(0.05)
        assert pids, (tmp_path / "run.log").read_text()[-2000:]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    assert "interrupted by SIGTERM" in (tmp_path / "run.log").read_text()
    assert not [p for p in pids if psutil.pid_exists(p)], "postgres processes survived SIGTERM"
    assert swappiness.read_bytes() == before


@pytest.mark.benchmark_smoke
def test_pin_to_cores_pins_server_backends_and_terminals(pg_cache_dir: Path, tmp_path: Path) -> None:
    target = TpccTarget(warehouses=1, clients=2, cache_dir=str(pg_cache_dir), warmup_s=0, pin_to_cores=[0],
                        results_dir=str(tmp_path / "results"))
    target.pre_execute()
    try:
        pids = target.processes()
        assert len(pids) >= 3
        assert all(os.sched_getaffinity(pid) == {0} for pid in pids if psutil.pid_exists(pid))
        terminals = [t.native_id for t in target.driver.terminals]  # type: ignore[union-attr]
        assert terminals and all(os.sched_getaffinity(tid) == {0} for tid in terminals)
        assert target.execute_window(0, 1.0).throughput > 0
    finally:
        target.cleanup()


@pytest.mark.benchmark_smoke
def test_terminals_reconnect_after_their_backends_are_killed(pg_cache_dir: Path, tmp_path: Path) -> None:
    target = TpccTarget(warehouses=1, clients=2, cache_dir=str(pg_cache_dir), warmup_s=0,
                        results_dir=str(tmp_path / "results"))
    target.pre_execute()
    try:
        assert target.cluster is not None
        killed: list[int] = []

        def kill() -> None:
            with target.cluster.connect() as conn:  # type: ignore[union-attr]
                killed.append(conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                           "WHERE datname = %s", (target.dbname,)).fetchone()[0])

        timer = threading.Timer(0.5, kill)  # in the middle of the window
        timer.start()
        hit = target.execute_window(0, 1.5)
        timer.join()
        assert killed == [2]
        assert hit.extra_metrics["error_rate"] > 0
        assert "57P01" in target.driver.errors() or "08006" in target.driver.errors()  # type: ignore[union-attr]
        after = target.execute_window(1, 1.5)  # the terminals reconnect within the window
        assert after.throughput > 0 and after.extra_metrics["error_rate"] == 0.0
    finally:
        target.cleanup()
