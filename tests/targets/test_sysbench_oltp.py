"""sysbench_oltp: parsing real oltp_read_write output, command lines, missing binary, real runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sematune.engine.records import read_history
from sematune.errors import ConfigError, TargetError
from sematune.targets.sysbench_oltp import SysbenchOltpTarget, histogram_percentiles

FIXTURES = Path(__file__).parent / "fixtures"
needs_sysbench = pytest.mark.requires(binary="sysbench", reason="apt-get install sysbench")


def parsed(name: str, tmp_path: Path, **kwargs):
    out = tmp_path / "window"
    out.mkdir(exist_ok=True)
    shutil.copy(FIXTURES / name, out / "sysbench.out")
    return SysbenchOltpTarget(**kwargs).parse_results(out)


def test_normal_output(tmp_path: Path) -> None:
    m = parsed("sysbench_oltp.txt", tmp_path)
    assert m.throughput == pytest.approx(326.80) and m.goodput == m.throughput
    assert m.latency_avg == pytest.approx(8028.58 / 659) and m.latency_p95 == pytest.approx(20.00)
    extra = m.extra_metrics
    assert extra["queries_per_s"] == pytest.approx(6553.78) and extra["errors_per_s"] == pytest.approx(0.99)
    assert extra["error_rate"] == pytest.approx(2 / 661)
    assert 2.5 < extra["latency_p50"] < m.latency_p95 < extra["latency_p99"] <= extra["latency_max"] + 1


def test_histogram_percentiles_follow_the_counts() -> None:
    text = (FIXTURES / "sysbench_oltp.txt").read_text()
    p = histogram_percentiles(text, (0.1, 50, 100))
    assert p["latency_p0.1"] == pytest.approx(2.568) and p["latency_p100"] == pytest.approx(35.589)
    assert histogram_percentiles("no histogram here") == {}


def test_without_histogram_p50_and_p99_are_missing(tmp_path: Path) -> None:
    m = parsed("sysbench_oltp_no_histogram.txt", tmp_path)
    assert m.throughput == pytest.approx(326.80) and m.latency_p95 == pytest.approx(20.00)
    assert "latency_p50" not in m.extra_metrics and "latency_p99" not in m.extra_metrics


def test_partial_output_without_latency_block(tmp_path: Path) -> None:
    m = parsed("sysbench_oltp_partial.txt", tmp_path)
    assert m.throughput == pytest.approx(326.80)
    assert m.latency_avg is None and m.latency_p95 is None and "latency_max" not in m.extra_metrics


def test_output_without_transactions_is_an_error(tmp_path: Path) -> None:
    out = tmp_path / "window"
    out.mkdir()
    text = (FIXTURES / "sysbench_oltp.txt").read_text()
    (out / "sysbench.out").write_text(text.split("SQL statistics:")[0])
    with pytest.raises(TargetError, match="no rate"):
        SysbenchOltpTarget().parse_results(out)


def test_command_line_before_the_server_starts() -> None:
    target = SysbenchOltpTarget(tables=2, table_size=5000, threads=4, percentile=99)
    argv = target.command(3.2)
    assert argv[:3] == ["sysbench", "oltp_read_write", "--threads=4"] and argv[-1] == "run"
    for arg in ("--db-driver=pgsql", "--tables=2", "--table-size=5000", "--histogram=on", "--time=3",
                "--percentile=99"):
        assert arg in argv
    assert not any(a.startswith("--pgsql-port") for a in argv)  # no server yet
    assert target.template_name() == "st_tpl_sysbench_t2_n5000_v1"
    assert target.command(0, "prepare")[-1] == "prepare"
    pinned = SysbenchOltpTarget(pin_to_cores=[0]).command(1)  # taskset: util-linux, always installed
    assert Path(pinned[0]).name == "taskset" and pinned[1:4] == ["-c", "0", "sysbench"]


def test_bad_config_names_the_key() -> None:
    for kwargs, key in (({"script": "tpcc"}, "target.script"), ({"tables": 0}, "target.tables"),
                        ({"table_size": "big"}, "target.table_size"), ({"percentile": 100}, "target.percentile")):
        with pytest.raises(ConfigError) as info:
            SysbenchOltpTarget(**kwargs)
        assert info.value.key == key


def test_missing_binary_names_the_debian_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    target = SysbenchOltpTarget(results_dir=str(tmp_path / "results"))
    with pytest.raises(TargetError, match="apt-get install sysbench"):
        target.pre_execute()
    assert target.cluster is None  # failed before any server was started


@needs_sysbench
@pytest.mark.benchmark_smoke
def test_two_real_windows_through_the_cli(cli, sandbox: Path, pg_cache_dir: Path) -> None:
    result = cli("target=sysbench_oltp", "tuner=fixed", "osparam=[vm_swappiness]", f"host_root={sandbox}",
                 "experiment=quick", "loop.tuning_windows=1", "loop.stable_windows=0", "loop.window_seconds=2",
                 "loop.settle_seconds=0.5", "tracking.enabled=false", "target.tables=2", "target.table_size=10000",
                 "target.threads=4", f"target.cache_dir={pg_cache_dir}", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    records = read_history(next((cli.cwd / "outputs").glob("**/history.jsonl")))
    assert [r.status for r in records] == ["ok", "ok"], [r.error for r in records]
    for record in records:
        m = record.metrics
        assert m.throughput > 0 and m.extra_metrics["queries_per_s"] > m.throughput
        assert 0 < m.extra_metrics["latency_p50"] <= m.latency_p95 <= m.extra_metrics["latency_p99"] * 1.05
