"""pgbench target: report/log parsing from real outputs, command lines, config errors, real runs."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from sematune.engine.records import read_history
from sematune.errors import ConfigError, TargetError
from sematune.targets.pgbench import LATENCY_FILE, PgbenchTarget, metrics_from_output, pgbench_command
from sematune.targets.postgres import find_install
from sematune.targets.postgres.pgbench_output import log_files, parse_summary, read_transaction_log

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def window(tmp_path: Path, out: str, log: str | None = None) -> Path:
    """A window dir holding fixture ``out`` as pgbench's stdout and ``log`` as its -l log."""
    d = tmp_path / "window"
    d.mkdir(exist_ok=True)
    shutil.copy(FIXTURES / out, d / "pgbench.out")
    (d / "pgbench.err").write_text("")
    if log:
        shutil.copy(FIXTURES / log, d / "tx.12345")
    return d


# -- parsing ------------------------------------------------------------------------------------
def test_summary_of_a_select_only_run() -> None:
    s = parse_summary(fixture("pgbench_select.out"))
    assert (s.processed, s.failed, s.clients, s.duration_s) == (5611, 0, 1, 2.0)
    assert s.tps == pytest.approx(2816.376847) and s.latency_avg_ms == pytest.approx(0.355)
    assert s.retried is None and s.latency_stddev_ms is None and not s.aborted


def test_summary_with_failures_and_retries() -> None:
    s = parse_summary(fixture("pgbench_failures.out"))
    assert (s.processed, s.failed, s.retried, s.retries) == (234, 105, 173, 173)
    assert s.latency_avg_ms == pytest.approx(11.467)  # "(including failures)" suffix


def test_transaction_log_marks_failures_and_reads_retries() -> None:
    log = read_transaction_log([FIXTURES / "pgbench_failures_log.txt"], with_retries=True)
    assert len(log) == 339 and int(log.failed.sum()) == 105
    assert np.isnan(log.latency_ms[log.failed]).all() and (log.latency_ms[~log.failed] > 0).all()
    assert log.retries.sum() > 0 and log.malformed_lines == 0
    assert (np.diff(np.sort(log.end_s)) >= 0).all() and log.end_s.min() > 1.7e9


def test_transaction_log_skips_a_torn_last_line(tmp_path: Path) -> None:
    text = fixture("pgbench_select_log.txt")
    (tmp_path / "tx.1").write_text(text + "0 201 17")
    log = read_transaction_log(log_files(tmp_path, "tx"))
    assert len(log) == 200 and log.malformed_lines == 1


def test_log_files_match_every_thread_only(tmp_path: Path) -> None:
    for name in ("tx.100", "tx.100.1", "tx.100.2", "tx.json", "other.100"):
        (tmp_path / name).write_text("")
    assert [p.name for p in log_files(tmp_path, "tx")] == ["tx.100", "tx.100.1", "tx.100.2"]


def test_metrics_from_normal_output(tmp_path: Path) -> None:
    target = PgbenchTarget(mode="select", clients=1)
    m = target.parse_results(window(tmp_path, "pgbench_select.out", "pgbench_select_log.txt"))
    assert m.throughput == pytest.approx(2816.376847) and m.goodput == m.throughput
    assert m.latency_avg == pytest.approx(0.355)
    assert 0 < m.extra_metrics["latency_p50"] <= m.latency_p95 <= m.extra_metrics["latency_p99"]
    assert m.extra_metrics["error_rate"] == 0.0
    assert json.loads((tmp_path / "window" / LATENCY_FILE).read_text())["p95"] == m.latency_p95


def test_percentiles_survive_log_removal(tmp_path: Path) -> None:
    target = PgbenchTarget()
    d = window(tmp_path, "pgbench_tpcb.out", "pgbench_tpcb_log.txt")
    first = target.parse_results(d)
    (d / "tx.12345").unlink()
    assert target.parse_results(d) == first


def test_missing_log_leaves_percentiles_missing(tmp_path: Path) -> None:
    m = PgbenchTarget().parse_results(window(tmp_path, "pgbench_tpcb.out"))
    assert m.throughput == pytest.approx(312.9088) and m.latency_avg == pytest.approx(12.783)
    assert m.latency_p95 is None and "latency_p99" not in m.extra_metrics


def test_partial_output_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="no tps line"):
        PgbenchTarget().parse_results(window(tmp_path, "pgbench_tpcb_partial.out", "pgbench_tpcb_log.txt"))
    with pytest.raises(TargetError, match="no pgbench output"):
        PgbenchTarget().parse_results(tmp_path / "nothing")


def test_partial_report_metrics_are_missing_not_zero() -> None:
    m = metrics_from_output(fixture("pgbench_tpcb_partial.out"), "", {})
    assert m.throughput is None and m.latency_avg is None and m.extra_metrics == {}


def test_failures_give_an_error_rate(tmp_path: Path) -> None:
    target = PgbenchTarget(max_tries=2)
    m = target.parse_results(window(tmp_path, "pgbench_failures.out", "pgbench_failures_log.txt"))
    assert m.extra_metrics["error_rate"] == pytest.approx(105 / 339)
    assert m.extra_metrics["retry_rate"] == pytest.approx(173 / 339)


# -- command lines and config ---------------------------------------------------------------------
def test_command_lines() -> None:
    conn = ["-h", "127.0.0.1", "-p", "5999", "-U", "postgres", "db"]
    select = pgbench_command("pgbench", conn, mode="select", clients=1, threads=1, duration_s=5)
    assert select[:4] == ["pgbench", "-n", "-b", "select-only"] and select[-7:] == conn
    assert "-T" in select and select[select.index("-T") + 1] == "5" and "-l" in select
    assert not any(a.startswith("--max-tries") or a.startswith("--sampling") for a in select)
    tpcb = pgbench_command("pgbench", conn, mode="tpcb", clients=8, threads=2, duration_s=3, protocol="simple",
                           rate=500, max_tries=5, sampling_rate=0.1)
    assert "tpcb-like" in tpcb and "--max-tries=5" in tpcb and "--sampling-rate=0.1" in tpcb
    assert tpcb[tpcb.index("-R") + 1] == "500" and tpcb[tpcb.index("-M") + 1] == "simple"


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [({"mode": "select_only"}, "target.mode"), ({"protocol": "binary"}, "target.protocol"),
     ({"scale": 0}, "target.scale"), ({"clients": 0}, "target.clients"), ({"rate": 0}, "target.rate"),
     ({"sampling_rate": 1.5}, "target.sampling_rate")],
)
def test_bad_config_names_the_key(kwargs: dict, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        PgbenchTarget(**kwargs)
    assert info.value.key == key


def test_threads_never_exceed_clients() -> None:
    assert PgbenchTarget(mode="select", clients=1).threads == 1
    assert PgbenchTarget(clients=64, threads=3).threads == 3
    assert PgbenchTarget().template_name() == "st_tpl_pgbench_s10_v1"


# -- real runs ------------------------------------------------------------------------------------
@pytest.mark.benchmark_smoke
@pytest.mark.parametrize("preset", ["pgbench", "pgbench_select"])
def test_two_real_windows_through_the_cli(cli, sandbox: Path, pg_cache_dir: Path, preset: str) -> None:
    result = cli(f"target={preset}", "tuner=fixed", "osparam=[vm_swappiness]", f"host_root={sandbox}",
                 "experiment=quick", "loop.tuning_windows=1", "loop.stable_windows=0", "loop.window_seconds=1",
                 "loop.settle_seconds=0.5", "tracking.enabled=false", "target.scale=1",
                 f"target.cache_dir={pg_cache_dir}", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    history = next((cli.cwd / "outputs").glob("**/history.jsonl"))
    records = read_history(history)
    assert [r.status for r in records] == ["ok", "ok"], [r.error for r in records]
    for record in records:
        m = record.metrics
        assert m.throughput > 0 and record.objective == m.throughput
        assert 0 < m.extra_metrics["latency_p50"] <= m.latency_p95 <= m.extra_metrics["latency_p99"]
    windows = history.parent / "target" / "windows"
    assert (windows / "0001" / LATENCY_FILE).exists() and not list((windows / "0001").glob("tx.*"))
    cmd = (windows / "0001" / "pgbench.json").read_text()
    assert ("select-only" in cmd) == (preset == "pgbench_select")


@pytest.fixture
def own_postgres_install() -> Iterator[Path]:
    """A PostgreSQL installation of one's own (as ``make install`` or a distribution would leave it):
    a copy of the embedded wheel's tree (and the shared libraries its RPATH names, ``$ORIGIN/../../..``)
    in a directory the demoted server account can read."""
    from sematune.targets.postgres._install import _embedded_bin_dir

    package = _embedded_bin_dir().parents[1]
    root = Path(tempfile.mkdtemp(prefix="sematune-own-pg-"))
    root.chmod(0o755)
    shutil.copytree(package / "pginstall", root / "postgres" / "pginstall", symlinks=True)
    shutil.copytree(package.parent / f"{package.name}.libs", root / f"{package.name}.libs", symlinks=True)
    yield root / "postgres" / "pginstall" / "bin"
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.benchmark_smoke
def test_own_postgres_through_pg_bin_dir(cli, sandbox: Path, pg_cache_dir: Path, own_postgres_install: Path) -> None:
    """``SEMATUNE_PG_BIN_DIR`` selects another installation: its own cluster/template cache, not the wheel's."""
    bin_dir = own_postgres_install
    result = cli("target=pgbench_select", "tuner=fixed", "osparam=[vm_swappiness]", f"host_root={sandbox}",
                 "loop.tuning_windows=1", "loop.stable_windows=0", "loop.window_seconds=1", "loop.settle_seconds=0",
                 "tracking.enabled=false", "target.scale=1", f"target.cache_dir={pg_cache_dir}",
                 env={"SEMATUNE_PG_BIN_DIR": str(bin_dir)}, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [r.status for r in read_history(next((cli.cwd / "outputs").glob("**/history.jsonl")))] == ["ok", "ok"]
    install = find_install(bin_dir)
    assert not install.embedded and install.key != find_install().key
    assert (pg_cache_dir / install.key).is_dir(), sorted(p.name for p in pg_cache_dir.iterdir())
