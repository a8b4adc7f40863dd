"""Redis target: CSV parsing (fixtures), command lines, a real server's lifecycle, SIGTERM mid-window."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from hydra.utils import instantiate

from sematune.errors import ConfigError, TargetError
from sematune.targets.redis import RedisTarget, combine, parse_redis_csv
from tests.conftest import missing, process_gone
from tests.engine.test_journal import snapshot
from tests.targets.test_sysbench import run_two_windows

FIXTURES = Path(__file__).parent / "fixtures"
needs_redis = pytest.mark.requires(binary=("redis-server", "redis-benchmark"),
                                   reason="apt-get install redis-server redis-tools")


def parsed(name: str, tmp_path: Path):
    out = tmp_path / "window"
    out.mkdir(exist_ok=True)
    shutil.copy(FIXTURES / name, out / "redis-benchmark.csv")
    return RedisTarget(tests="get,set").parse_results(out)


# -- parsing ------------------------------------------------------------------------------------
def test_parse_csv_rows() -> None:
    rows = parse_redis_csv((FIXTURES / "redis_benchmark.csv").read_text())
    assert list(rows) == ["SET", "GET", "LPUSH", "MSET (10 keys)"]
    assert rows["GET"] == {"rps": 17271.16, "latency_avg": 0.918, "latency_min": 0.096, "latency_p50": 0.359,
                           "latency_p95": 4.943, "latency_p99": 7.919, "latency_max": 31.231}


def test_combined_metrics(tmp_path: Path) -> None:
    m = parsed("redis_benchmark.csv", tmp_path)
    rates = [25641.03, 17271.16, 20746.89, 21253.99]
    assert m.throughput == pytest.approx(4 / sum(1 / r for r in rates))  # same -n per test
    assert m.goodput == m.throughput
    assert m.latency_avg == pytest.approx((0.515 + 0.918 + 0.677 + 0.684) / 4)
    assert m.latency_p95 == 4.943 and m.extra_metrics["latency_p99"] == 7.919  # the worst test's
    assert m.extra_metrics["mset_10_keys_rps"] == 21253.99
    assert m.extra_metrics["get_latency_p50"] == 0.359


def test_partial_output_gives_what_ran(tmp_path: Path) -> None:
    m = parsed("redis_benchmark_partial.csv", tmp_path)
    assert m.throughput == 25641.03 and m.latency_p95 == 0.727
    assert "get_rps" not in m.extra_metrics


def test_rps_only_output_has_missing_latencies(tmp_path: Path) -> None:
    m = parsed("redis_benchmark_rps_only.csv", tmp_path)
    assert m.throughput == pytest.approx(2 / (1 / 25641.03 + 1 / 17271.16))
    assert m.latency_avg is None and m.latency_p95 is None and "latency_p99" not in m.extra_metrics


def test_no_rows_is_a_target_error(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="no CSV rows"):
        parsed("redis_benchmark_empty.csv", tmp_path)
    with pytest.raises(TargetError, match="no redis-benchmark output"):
        RedisTarget().parse_results(tmp_path / "nowhere")


def test_one_test_without_rate_leaves_throughput_missing() -> None:
    m = combine({"GET": {"rps": 100.0, "latency_avg": 1.0}, "SET": {"latency_avg": 2.0}}, 10)
    assert m.throughput is None and m.latency_avg == 1.5


# -- command lines and configuration --------------------------------------------------------------
def test_command_lines(tmp_path: Path) -> None:
    target = RedisTarget(tests=["get", "lpush"], clients=1, pipeline=16, data_size=64, keyspace=0,
                         benchmark_threads=2, port=56001, server_args=["--io-threads", "2"])
    target.results_dir = tmp_path
    bench = target.benchmark_command(1234)
    assert bench[:5] == ["redis-benchmark", "-h", "127.0.0.1", "-p", "56001"]
    text = " ".join(bench)
    assert "-c 1 -n 1234 -P 16 -d 64 -t get,lpush --csv" in text and "--threads 2" in text and " -r " not in text
    server = target.server_command()
    assert server[server.index("--save") + 1] == "" and server[server.index("--appendonly") + 1] == "no"
    assert server[server.index("--bind") + 1] == "127.0.0.1" and server[-2:] == ["--io-threads", "2"]
    assert server[server.index("--dir") + 1] == str(tmp_path / "redis")
    pinned = RedisTarget(pin_to_cores=[0])
    pinned.results_dir = tmp_path
    assert Path(pinned.server_command()[0]).name == "taskset"
    assert Path(pinned.benchmark_command(10)[0]).name == "taskset"


def test_requests_scale_with_window_length() -> None:
    target = RedisTarget(tests="get,set", min_requests=100, calibration_requests=500)
    assert target.requests_for(5) == 500  # not calibrated yet
    target._seconds_per_request = 1e-5
    assert target.requests_for(2) == 100000  # 2 s / (2 tests × 10 µs)
    assert target.requests_for(0.0001) == 100
    assert RedisTarget(requests=777).requests_for(10) == 777


@pytest.mark.parametrize(("kwargs", "key"), [
    ({"tests": "get;flushall"}, "target.tests"), ({"clients": 0}, "target.clients"),
    ({"requests": 0}, "target.requests"), ({"server_args": "--io-threads 2"}, "target.server_args"),
])
def test_bad_settings_name_their_key(kwargs: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        RedisTarget(**kwargs)
    assert err.value.key == key


def test_missing_binaries_name_the_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = RedisTarget()
    target.results_dir = tmp_path
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TargetError, match="apt-get install redis-server"):
        target.pre_execute()
    server = shutil.which("redis-server", path="/usr/bin:/usr/local/bin")
    if server is None:
        missing("redis-server (apt-get install redis-server)")
    (tmp_path / "redis-server").symlink_to(server)
    with pytest.raises(TargetError, match="apt-get install redis-tools"):
        target.pre_execute()


@pytest.mark.parametrize(("name", "clients", "objective"), [
    ("redis", 50, ("throughput", "maximize")), ("redis_latency", 1, ("latency_avg", "minimize"))])
def test_shipped_configs_instantiate(compose, name: str, clients: int, objective: tuple[str, str]) -> None:
    target = instantiate(compose(f"target={name}").target, _convert_="all")
    assert isinstance(target, RedisTarget)
    assert target.clients == clients and target.default_objective == objective


# -- real server ------------------------------------------------------------------------------------
@needs_redis
def test_server_lifecycle_and_processes(tmp_path: Path) -> None:
    target = RedisTarget(tests="get", clients=4, calibration_requests=2000, min_requests=500, pin_to_cores=[0])
    target.results_dir = tmp_path
    try:
        target.pre_execute()
        pid = int((tmp_path / "redis" / "redis-server.pid").read_text())
        assert json.loads((tmp_path / "redis" / "server.json").read_text())["pid"] == pid
        assert target.processes() == [pid] and psutil.Process(pid).name().startswith("redis-server")
        assert psutil.Process(pid).cpu_affinity() == [0]  # taskset exec'd the server
        metrics = target.execute_window(0, 1.0)
        assert metrics.throughput > 0 and metrics.latency_p95 is not None
        assert metrics.extra_metrics["requests_per_test"] >= 500
    finally:
        target.cleanup()
    assert process_gone(pid) and target.processes() == []
    target.cleanup()  # idempotent


@needs_redis
def test_server_that_cannot_start_is_a_target_error(tmp_path: Path) -> None:
    target = RedisTarget(server_args=["--no-such-directive", "1"], start_timeout_s=5)
    target.results_dir = tmp_path
    try:
        with pytest.raises(TargetError, match="redis-server exited"):
            target.pre_execute()
    finally:
        target.cleanup()


@needs_redis
@pytest.mark.benchmark_smoke
@pytest.mark.parametrize("name", ["redis", "redis_latency"])
def test_two_real_windows(cli, sandbox: Path, name: str) -> None:
    for record in run_two_windows(cli, sandbox, name):
        m = record.metrics
        assert m.throughput > 0 and m.latency_avg > 0 and m.latency_p95 is not None
        assert "latency_p99" in m.extra_metrics
        assert m.system["target_processes"] >= 1 and m.system["own_cpu_s"] > 0
    run_dir = next((cli.cwd / "outputs").glob("**/history.jsonl")).parent
    server = json.loads((run_dir / "target" / "redis" / "server.json").read_text())
    assert process_gone(server["pid"])


def _start_cli(tmp_path: Path, sandbox: Path, state_dir: Path, window_s: float = 20,
               tuning_windows: int = 1) -> subprocess.Popen:
    work = tmp_path / "work"
    work.mkdir()
    args = [sys.executable, "-m", "sematune", "target=redis", "tuner=random", f"host_root={sandbox}",
            "experiment=quick", f"loop.window_seconds={window_s}", f"loop.tuning_windows={tuning_windows}",
            "loop.stable_windows=0", "tracking.enabled=false"]
    env = {**os.environ, "SEMATUNE_STATE_DIR": str(state_dir), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(args, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _benchmarks(proc: subprocess.Popen) -> list[psutil.Process]:
    return [p for p in psutil.Process(proc.pid).children(recursive=True) if "redis-benchmark" in p.name()]


def _wait_for_window(tmp_path: Path, proc: subprocess.Popen, window: int = 0) -> int:
    """Poll until ``window`` is running (its directory exists and redis-benchmark runs); return the server's pid."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        windows = list(tmp_path.glob(f"work/outputs/**/target/windows/{window:04d}"))
        servers = list(tmp_path.glob("work/outputs/**/redis/server.json"))
        if windows and servers and _benchmarks(proc):
            return int(json.loads(servers[0].read_text())["pid"])
        time.sleep(0.05)
    raise AssertionError(f"window {window} never started")


@needs_redis
@pytest.mark.benchmark_smoke
def test_sigterm_mid_window_stops_the_server(tmp_path: Path, sandbox: Path, state_dir: Path) -> None:
    """SIGTERM in the first tuning window (knobs written): server and benchmark stop, every byte is back."""
    before = snapshot(sandbox)
    proc = _start_cli(tmp_path, sandbox, state_dir, window_s=4, tuning_windows=2)
    try:
        pid = _wait_for_window(tmp_path, proc, window=1)
        bench = _benchmarks(proc)
        assert snapshot(sandbox) != before, "window 1 should run on tuned knobs"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert "SIGTERM" in out and "host restore PASS" in out, out[-2000:]
    assert process_gone(pid), "redis-server survived SIGTERM"
    assert all(process_gone(b.pid) for b in bench), "redis-benchmark survived SIGTERM"
    assert snapshot(sandbox) == before


@needs_redis
@pytest.mark.benchmark_smoke
def test_sigkill_of_sematune_still_stops_the_server(tmp_path: Path, sandbox: Path, state_dir: Path) -> None:
    proc = _start_cli(tmp_path, sandbox, state_dir)
    children: list[psutil.Process] = []
    try:
        pid = _wait_for_window(tmp_path, proc)
        children = psutil.Process(proc.pid).children(recursive=True)
        assert pid in [c.pid for c in children]
        proc.kill()  # no cleanup can run: the parent-death signal must stop the server and the benchmark
        proc.communicate(timeout=30)
        deadline = time.monotonic() + 10
        while not all(process_gone(c.pid) for c in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert process_gone(pid), "redis-server outlived a SIGKILLed SemaTune"
        assert all(process_gone(c.pid) for c in children), "a child outlived a SIGKILLed SemaTune"
    finally:
        if proc.poll() is None:
            proc.kill()
        for child in children:  # leave nothing behind even when the assertion failed
            try:
                child.kill()
            except psutil.Error:
                pass
        subprocess.run([sys.executable, "-m", "sematune.restore"], env={**os.environ,
                       "SEMATUNE_STATE_DIR": str(state_dir)}, capture_output=True, timeout=60)
