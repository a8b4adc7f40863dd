"""``target=service_redis`` on a real ``redis-server`` (loopback, free port) driven by an external
``redis-benchmark`` that the test starts. SemaTune only reads ``INFO``.

Tolerances: a window spanning a whole redis-benchmark run counts its requests exactly (+ at most
20 for the benchmark's own set-up commands) — a rate over part of a run is not compared, since
the benchmark's rate swings by 2x on this shared host and it reports no per-interval rates;
server-side latencies are positive and at most the client's (the client's include the network and its own scheduling); a window without
load has throughput 0 (SemaTune's own INFO calls are taken out) and is idle.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from sematune.engine import guards
from sematune.targets._process import ChildProcess, free_port, require_binary
from sematune.targets.redis import parse_redis_csv
from sematune.targets.service import ServiceTarget
from tests.targets.test_service_http import run_sematune

pytestmark = pytest.mark.benchmark_smoke


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[tuple[ChildProcess, int]]:
    server_bin = require_binary("redis-server", "redis-server")
    port = free_port()
    server = ChildProcess([server_bin, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly",
                           "no", "--dir", str(tmp_path)], stdout=tmp_path / "redis.log")
    try:
        deadline = time.monotonic() + 20
        while subprocess.run([shutil.which("redis-cli") or "redis-cli", "-p", str(port), "ping"],
                             capture_output=True, text=True).stdout.strip() != "PONG":
            assert time.monotonic() < deadline and server.alive, "redis-server did not start"
            time.sleep(0.05)
        yield server, port
    finally:
        server.stop(grace_s=5)


def benchmark(port: int, test: str, requests: int) -> subprocess.Popen:
    argv = [require_binary("redis-benchmark", "redis-tools"), "-h", "127.0.0.1", "-p", str(port), "-t", test,
            "-n", str(requests), "-c", "4", "-r", "1000", "--csv"]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def summary_of(bench: subprocess.Popen) -> dict[str, float]:
    out = bench.communicate(timeout=120)[0]
    assert bench.returncode == 0
    (row,) = parse_redis_csv(out).values()
    return row


def window_around(target: ServiceTarget, window: int, seconds: float, port: int, test: str,
                  requests: int) -> tuple[object, dict[str, float], float]:
    """One window of ``seconds`` that holds a whole redis-benchmark run: (metrics, client summary, window s)."""
    result: list = []
    thread = threading.Thread(target=lambda: result.append(target.execute_window(window, seconds)))
    thread.start()
    time.sleep(0.3)
    client = summary_of(benchmark(port, test, requests))
    thread.join()
    meta = json.loads((target.results_dir / "windows" / f"{window:04d}" / "service_metrics.json").read_text())
    return result[0], client, meta["seconds"]


def test_windows_match_redis_benchmark_and_idle_is_detected(redis_server, tmp_path: Path) -> None:
    server, port = redis_server
    target = ServiceTarget(source={"kind": "redis", "port": port, "commands": ["get", "set"]},
                           attach={"pids": [server.pid]}, sample_interval_s=0.5)
    target.results_dir = tmp_path / "results"
    assert target.pre_execute() and target.processes() == [server.pid]
    windows = [window_around(target, window, 2.5, port, test, 3000) for window, test in enumerate(("get", "set"))]
    for test, (m, client, seconds) in zip(("get", "set"), windows):
        assert 3000 <= round(m.throughput * seconds) <= 3020, (m.throughput * seconds, client)
        assert 0 < m.latency_avg <= client["latency_avg"]
        assert 0 < m.extra_metrics[f"service/{test}_p99_ms"] <= client["latency_p99"]
        assert m.extra_metrics["service/connected_clients"] >= 1
    assert windows[0][0].extra_metrics["service/hit_ratio"] == 0.0  # GETs of keys never set
    assert "service/hit_ratio" not in windows[1][0].extra_metrics  # SETs neither hit nor miss
    idle = target.execute_window(2, 1.0)
    assert idle.throughput == 0.0 and idle.latency_avg is None
    assert guards.idle_note(idle, guards.MinTraffic(metric="throughput", min=1)) is not None
    target.cleanup()
    assert server.alive


def test_redis_preset_through_the_cli_never_touches_the_server(redis_server, cli, sandbox, tmp_path: Path) -> None:
    server, port = redis_server
    bench = benchmark(port, "set", 10_000_000)
    try:
        records, summary = run_sematune(
            cli, sandbox, "target=service_redis", f"target.source.port={port}", f"target.attach.pids=[{server.pid}]",
            "loop.tuning_windows=1", "loop.stable_windows=0", "loop.min_traffic={metric: throughput, min: 10}",
            "target.source.reset_stats=true", "objective.metric=service/set_p99_ms", "objective.goal=minimize")
    finally:
        bench.kill()
        bench.wait()
    assert [r.status for r in records] == ["ok", "ok"], [r.error for r in records]
    for r in records:
        assert r.objective == r.metrics.extra_metrics["service/set_p99_ms"] > 0
        assert r.metrics.system["target_processes"] >= 1
    assert summary["objective_metric"] == "service/set_p99_ms" and summary["goal"] == "minimize"
    assert server.alive
