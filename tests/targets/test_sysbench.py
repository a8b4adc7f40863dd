"""sysbench targets: output parsing (fixtures), command lines, config errors, real short runs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hydra.utils import instantiate

from sematune.engine.records import read_history
from sematune.errors import ConfigError, TargetError
from sematune.targets.sysbench import (
    SysbenchCpu, SysbenchFileio, SysbenchMemory, SysbenchThreads, parse_sysbench,
)

FIXTURES = Path(__file__).parent / "fixtures"
needs_sysbench = pytest.mark.requires(binary="sysbench", reason="apt-get install sysbench")


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def parsed_into(target, name: str, tmp_path: Path):
    """parse_results() of a window dir holding fixture ``name`` as sysbench's output."""
    out = tmp_path / "window"
    out.mkdir(exist_ok=True)
    shutil.copy(FIXTURES / name, out / "sysbench.out")
    return target.parse_results(out)


def run_two_windows(cli, sandbox: Path, target: str, *overrides: str) -> list:
    """Two real windows (baseline + one tuning) through the CLI; the run's history records."""
    result = cli(f"target={target}", "tuner=random", f"host_root={sandbox}", "experiment=quick",
                 "loop.tuning_windows=1", "loop.stable_windows=0", "tracking.enabled=false", *overrides,
                 timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    histories = list((cli.cwd / "outputs").glob("**/history.jsonl"))
    assert len(histories) == 1
    records = read_history(histories[0])
    assert [r.status for r in records] == ["ok", "ok"], [r.error for r in records]
    return records


# -- parsing ------------------------------------------------------------------------------------
def test_parse_cpu_report() -> None:
    values = parse_sysbench(fixture("sysbench_cpu.txt"))
    assert values["events_per_s"] == pytest.approx(2105.27)
    assert values["total_time_s"] > 2.9 and values["total_events"] > 1000
    assert values["latency_avg"] > 0 and values["latency_p95"] >= values["latency_min"]
    assert values["intervals"] == 2 and values["interval_rate_cv"] > 0


def test_cpu_metrics_use_precise_mean_latency(tmp_path: Path) -> None:
    metrics = parsed_into(SysbenchCpu(), "sysbench_cpu.txt", tmp_path)
    values = parse_sysbench(fixture("sysbench_cpu.txt"))
    assert metrics.throughput == pytest.approx(2105.27) and metrics.goodput == metrics.throughput
    assert metrics.latency_avg == pytest.approx(values["latency_sum"] / values["total_events"])
    assert metrics.latency_avg == pytest.approx(values["latency_avg"], abs=0.006)  # printed with 2 decimals
    assert metrics.latency_p95 == values["latency_p95"]
    assert "interval_rate_cv" in metrics.extra_metrics


def test_memory_rate_is_operations_per_second(tmp_path: Path) -> None:
    metrics = parsed_into(SysbenchMemory(), "sysbench_memory.txt", tmp_path)
    values = parse_sysbench(fixture("sysbench_memory.txt"))
    assert metrics.throughput == values["operations_per_s"] > 1e5
    assert metrics.extra_metrics["mib_per_s"] == values["mib_per_s"] > 100
    # avg prints as 0.00 ms; sum/events keeps the real sub-microsecond mean
    assert values["latency_avg"] == 0.0 and 0 < metrics.latency_avg < 0.01


def test_threads_rate_is_events_over_time_and_p99_goes_to_extras(tmp_path: Path) -> None:
    target = SysbenchThreads(percentile=99)
    metrics = parsed_into(target, "sysbench_threads.txt", tmp_path)
    values = parse_sysbench(fixture("sysbench_threads.txt"))
    assert "events_per_s" not in values  # sysbench prints no rate for this test
    assert metrics.throughput == pytest.approx(values["total_events"] / values["total_time_s"])
    assert metrics.latency_p95 is None  # sysbench printed the 99th, not the 95th
    assert metrics.extra_metrics["latency_p99"] == values["latency_p99"] > 0


def test_fileio_rates(tmp_path: Path) -> None:
    metrics = parsed_into(SysbenchFileio(percentile=99), "sysbench_fileio.txt", tmp_path)
    values = parse_sysbench(fixture("sysbench_fileio.txt"))
    assert metrics.throughput == pytest.approx(values["reads_per_s"] + values["writes_per_s"])
    extra = metrics.extra_metrics
    assert extra["fsyncs_per_s"] == values["fsyncs_per_s"] > 0
    assert extra["mib_per_s"] == pytest.approx(values["read_mib_per_s"] + values["written_mib_per_s"])
    assert extra["latency_p99"] > 0 and values["intervals"] >= 1


def test_partial_report_without_summary_is_a_target_error(tmp_path: Path) -> None:
    values = parse_sysbench(fixture("sysbench_cpu_partial.txt"))
    assert "events_per_s" not in values and values["intervals"] == 2  # killed mid-run
    with pytest.raises(TargetError, match="no rate"):
        parsed_into(SysbenchCpu(), "sysbench_cpu_partial.txt", tmp_path)


def test_partial_fileio_report_keeps_rates_and_misses_latency(tmp_path: Path) -> None:
    metrics = parsed_into(SysbenchFileio(), "sysbench_fileio_partial.txt", tmp_path)
    assert metrics.throughput and metrics.throughput > 0
    assert metrics.latency_avg is None and metrics.latency_p95 is None  # missing, never 0.0


def test_missing_metric_lines_are_missing(tmp_path: Path) -> None:
    text = "\n".join(l for l in fixture("sysbench_cpu.txt").splitlines() if "95th percentile" not in l)
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "sysbench.out").write_text(text)
    metrics = SysbenchCpu().parse_results(tmp_path / "w")
    assert metrics.throughput == pytest.approx(2105.27) and metrics.latency_p95 is None
    with pytest.raises(TargetError, match="no sysbench output"):
        SysbenchCpu().parse_results(tmp_path / "nowhere")


# -- command lines and configuration --------------------------------------------------------------
def test_command_lines(tmp_path: Path) -> None:
    cpu = SysbenchCpu(threads=3, percentile=99, report_interval=1, extra_args=["--rand-type=uniform"])
    argv = cpu.command(5.0)
    assert argv[:3] == ["sysbench", "cpu", "--threads=3"]
    assert {"--cpu-max-prime=10000", "--time=5", "--events=0", "--percentile=99", "--report-interval=1",
            "--rand-type=uniform"} <= set(argv)
    assert argv[-1] == "run"
    assert "--report-interval=1" not in cpu.command(1.0)  # too short for two samples
    assert "--time=1" in cpu.command(0.3)  # whole seconds, at least one
    mem = SysbenchMemory(threads=1, block_size="4K", operation="read").command(2)
    assert {"--memory-block-size=4K", "--memory-total-size=0", "--memory-oper=read"} <= set(mem)
    fileio = SysbenchFileio(file_total_size="8M", direct=True, test_mode="seqwr")
    fileio.results_dir = tmp_path
    assert fileio.command(0, "prepare")[-1] == "prepare"
    assert "--time=0" not in " ".join(fileio.command(0, "prepare"))
    assert {"--file-total-size=8M", "--file-test-mode=seqwr", "--file-extra-flags=direct"} <= set(fileio.command(3))
    assert fileio.data_dir == tmp_path / "fileio"


def test_threads_zero_means_usable_cpus() -> None:
    assert SysbenchCpu(threads=0).threads == len(os.sched_getaffinity(0))
    assert SysbenchCpu(threads=0, pin_to_cores=[0]).threads == 1


def test_pin_to_cores_prefixes_taskset() -> None:
    argv = SysbenchCpu(pin_to_cores="0").command(2)
    assert Path(argv[0]).name == "taskset" and argv[1:3] == ["-c", "0"] and argv[3] == "sysbench"


@pytest.mark.parametrize(("kwargs", "key"), [
    ({"percentile": 100}, "target.percentile"),
    ({"threads": -1}, "target.threads"),
    ({"report_interval": -2}, "target.report_interval"),
    ({"extra_args": "--foo"}, "target.extra_args"),
])
def test_bad_settings_name_their_key(kwargs: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        SysbenchCpu(**kwargs)
    assert err.value.key == key


def test_bad_test_specific_settings() -> None:
    with pytest.raises(ConfigError, match="target.operation"):
        SysbenchMemory(operation="copy")
    with pytest.raises(ConfigError, match="target.test_mode"):
        SysbenchFileio(test_mode="random")
    with pytest.raises(ConfigError, match="target.file_total_size"):
        SysbenchFileio(file_total_size="lots")


def test_missing_binary_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    target = SysbenchCpu()
    target.results_dir = tmp_path
    with pytest.raises(TargetError, match="apt-get install sysbench"):
        target.pre_execute()


@pytest.mark.parametrize("name", ["sysbench_cpu", "sysbench_memory", "sysbench_threads", "sysbench_fileio"])
def test_shipped_configs_instantiate(compose, name: str) -> None:
    target = instantiate(compose(f"target={name}").target, _convert_="all")
    assert target.test == name.split("_")[1]
    assert target.command(2)[-1] == "run"


# -- real runs -------------------------------------------------------------------------------------
@needs_sysbench
def test_fileio_files_live_in_results_dir_and_are_removed(tmp_path: Path) -> None:
    target = SysbenchFileio(file_total_size="8M", file_num=2, report_interval=0)
    target.results_dir = tmp_path / "results"
    try:
        assert target.pre_execute()
        files = sorted(p.name for p in target.data_dir.glob("test_file.*"))
        assert files == ["test_file.0", "test_file.1"]
        metrics = target.execute_window(0, 1)
        assert metrics.throughput and metrics.throughput > 0
        assert not list(Path.cwd().glob("test_file.*"))
    finally:
        target.cleanup()
    assert not target.data_dir.exists()
    target.cleanup()  # idempotent


@needs_sysbench
def test_failed_run_is_a_target_error_with_the_reason(tmp_path: Path) -> None:
    target = SysbenchCpu(extra_args=["--no-such-option=1"])
    target.results_dir = tmp_path
    target.pre_execute()
    with pytest.raises(TargetError, match="sysbench cpu failed: .*exited with code"):
        target.execute_window(0, 1)


@needs_sysbench
@pytest.mark.benchmark_smoke
@pytest.mark.parametrize("name", ["sysbench_cpu", "sysbench_memory", "sysbench_threads", "sysbench_fileio"])
def test_two_real_windows(cli, sandbox: Path, name: str) -> None:
    extra = ["target.file_total_size=16M"] if name == "sysbench_fileio" else []
    records = run_two_windows(cli, sandbox, name, *extra)
    for record in records:
        m = record.metrics
        assert m.throughput and m.throughput > 0
        assert m.latency_avg is not None and m.latency_p95 is not None
        assert m.system["own_cpu_s"] > 0 and "foreign_cpu_s" in m.system and "cpu_user_pct" in m.system
    run_dir = next((cli.cwd / "outputs").glob("**/history.jsonl")).parent
    assert (run_dir / "target" / "windows" / "0001" / "sysbench.out").exists()
    assert not (run_dir / "target" / "fileio").exists()  # fileio cleaned up; others never had it
