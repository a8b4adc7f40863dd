"""``target=service`` on a real HTTP service exposing Prometheus metrics, driven by a load generator the
test starts on its own (fixtures/service/http_app.py, http_load.py). SemaTune only observes.

Tolerances: a window's request count matches the generator's requests completed inside that window
within 10 % + 5 (the server counts a request just before the client sees its answer); histogram
quantiles land in the bucket that holds the generator's requested quantile (a histogram cannot
say more); idle windows (no load) are detected; the service keeps its pid; the host tree is
byte-identical afterwards.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import psutil
import pytest

from sematune.engine import guards
from sematune.engine.records import read_history
from sematune.targets.service import ServiceTarget

FIXTURES = Path(__file__).parent / "fixtures" / "service"
pytestmark = pytest.mark.benchmark_smoke


def tree_digest(root: Path) -> dict[str, str]:
    """Every regular file under ``root`` → sha256 (the host tree a run must leave as it found it),
    SemaTune's own lock directory aside."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()
            and not p.relative_to(root).as_posix().startswith("var/lib/sematune/")}


def run_sematune(cli, sandbox: Path, *overrides: str) -> tuple[list, dict]:
    """One CLI run on the sandbox host; its history records and summary. The host must be restored."""
    before = tree_digest(sandbox)
    result = cli("tuner=random", f"host_root={sandbox}", "experiment=quick", "tracking.enabled=false",
                 "loop.settle_seconds=0", "loop.foreign_cpu_limit=null",  # the load generator here is foreign
                 *overrides, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    (history,) = list((cli.cwd / "outputs").glob("**/history.jsonl"))
    summary = json.loads((history.parent / "summary.json").read_text())
    report = json.loads((history.parent / "restoration_report.json").read_text())
    assert report["verify_status"] == "PASS" and tree_digest(sandbox) == before
    return read_history(history), summary


@pytest.fixture
def http_app() -> Iterator[tuple[subprocess.Popen, int]]:
    proc = subprocess.Popen([sys.executable, str(FIXTURES / "http_app.py")], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        yield proc, port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def start_load(port: int, seconds: float, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(FIXTURES / "http_load.py"), str(port), str(seconds), "2",
                             str(out)], stdout=subprocess.PIPE, text=True)


def http_target(port: int, pid: int, results: Path) -> ServiceTarget:
    histogram = {"metric": "http_request_duration_seconds", "labels_regex": {"path": ".*"}, "scale": 1000.0}
    target = ServiceTarget(
        source={"kind": "prometheus", "url": f"http://127.0.0.1:{port}/metrics", "timeout_s": 5},
        metrics={"throughput": {"metric": "http_requests_total", "labels": {"code": "200"}},
                 "requests": {"metric": "http_requests", "labels": {"code": "200"}, "stat": "increase"},
                 "p50_ms": {**histogram, "stat": "p50"}, "latency_p95": {**histogram, "stat": "p95"},
                 "inflight_max": {"metric": "http_inflight", "stat": "max"}},
        attach={"pids": [pid]}, sample_interval_s=0.5)
    target.results_dir = results
    return target


def test_windows_match_the_load_generator_and_idle_is_detected(http_app, tmp_path: Path) -> None:
    app, port = http_app
    target = http_target(port, app.pid, tmp_path / "results")
    assert target.pre_execute() and target.processes() == [app.pid]
    load = start_load(port, 5.0, tmp_path / "ends.txt")
    time.sleep(0.5)
    windows = [target.execute_window(i, 1.5) for i in range(2)]
    summary = json.loads(load.communicate(timeout=60)[0])
    ends = [float(t) for t in (tmp_path / "ends.txt").read_text().split()]
    assert summary["requested_p50_ms"] == 3.0 and summary["requested_p95_ms"] == 30.0
    for i, metrics in enumerate(windows):
        meta = json.loads((tmp_path / "results" / "windows" / f"{i:04d}" / "service_metrics.json").read_text())
        t0, t1 = meta["started_at"], meta["started_at"] + meta["seconds"]
        expected = sum(t0 <= t <= t1 for t in ends)
        counted = metrics.extra_metrics["service/requests"]
        assert expected > 20 and abs(counted - expected) <= 0.1 * expected + 5, (counted, expected)
        assert metrics.throughput == pytest.approx(counted / meta["seconds"])
        assert 1.0 < metrics.extra_metrics["service/p50_ms"] <= 10.0  # the bucket holding 3 ms
        assert 10.0 < metrics.latency_p95 <= 100.0  # the bucket holding 30 ms
        assert metrics.extra_metrics["service/inflight_max"] >= 0
    idle = target.execute_window(2, 1.0)
    assert idle.throughput == 0.0 and idle.latency_p95 is None  # no observation: no quantile, never 0
    assert guards.idle_note(idle, guards.MinTraffic(metric="throughput", min=1.0)).startswith(guards.IDLE)
    target.cleanup()
    assert app.poll() is None and target.processes() == [app.pid]


def test_dry_run_scores_the_current_configuration_and_follows_the_service_cpu(http_app, cli, sandbox,
                                                                                tmp_path: Path) -> None:
    app, port = http_app
    load = start_load(port, 60.0, tmp_path / "ends.txt")
    try:
        records, summary = run_sematune(
            cli, sandbox, "target=service", f"target.source.url=http://127.0.0.1:{port}/metrics",
            f"target.attach.pids=[{app.pid}]", "loop.dry_run_windows=3", "loop.window_seconds=1.5",
            "loop.min_traffic={metric: throughput, min: 5}")
    finally:
        load.kill()
        load.wait()
    assert [(r.phase, r.status) for r in records] == [("baseline", "ok")] * 3, [r.error for r in records]
    assert all(r.applied == records[0].applied and r.metrics.throughput > 5 for r in records)
    assert all(r.metrics.system["target_processes"] >= 1 and r.metrics.system["own_cpu_s"] > 0 for r in records)
    noise = summary["aa_noise"]
    assert noise["n"] == 3 and noise["cv"] is not None and noise["cv"] >= 0
    assert app.poll() is None  # SemaTune never stops the service


def test_windows_without_traffic_are_idle_remeasured_and_not_scored(http_app, cli, sandbox) -> None:
    app, port = http_app
    records, summary = run_sematune(
        cli, sandbox, "target=service", f"target.source.url=http://127.0.0.1:{port}/metrics",
        "loop.tuning_windows=1", "loop.stable_windows=0", "loop.max_remeasure=1",
        "loop.min_traffic={metric: throughput, min: 1}")
    assert [r.status for r in records] == ["idle", "idle"]
    assert all(r.attempts == 2 and r.reward is None and r.error.startswith(guards.IDLE) for r in records)
    assert summary["idle_windows"] == 2 and summary["best_objective"] is None
    assert app.poll() is None and psutil.Process(app.pid).is_running()
