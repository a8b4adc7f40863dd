"""Fault matrix, continued: the target's server dies, the tracking store dies, two runs race for one host.

Each case runs the real CLI (``python -m sematune``) as a child process on a sandbox tree and
checks afterwards: the tree is byte-identical, no journal is left, every completed window is in
``history.jsonl``, and the exit code, ``summary.json`` and MLflow say what happened.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from sematune.engine.records import read_history
from tests.conftest import REPO
from tests.safety._helpers import snapshot
from tests.tracking.servers import mlflow_server


def _start(args: list[str], cwd: Path, state: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    full_env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
                "SEMATUNE_STATE_DIR": str(state), "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "sematune", *args], cwd=cwd, env=full_env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _when_windows(history: Path, count: int, proc: subprocess.Popen[str], timeout_s: float = 300) -> None:
    """Wait until ``history`` holds ``count`` windows (fails if the run ends first)."""
    deadline = time.monotonic() + timeout_s
    while not (history.exists() and len(history.read_text().splitlines()) >= count):
        assert proc.poll() is None, f"the run ended (exit {proc.returncode}) before window {count}"
        assert time.monotonic() < deadline, f"no window {count} within {timeout_s:.0f} s"
        time.sleep(0.1)


def _history_complete(run: Path) -> list:
    records = read_history(run / "history.jsonl")
    assert [r.window for r in records] == list(range(len(records)))
    return records


def test_two_runs_with_different_state_dirs_race_for_one_tree(sandbox: Path, tmp_path: Path) -> None:
    """Started at once, each with its own state dir: exactly one tunes, the other exits with the lock message."""
    before = snapshot(sandbox)
    args = ["experiment=quick", "target=synthetic", "tuner=random", "probes=false", f"host_root={sandbox}",
            "tracking.enabled=false", "loop.window_seconds=0.5"]
    procs = [_start([*args, f"hydra.run.dir={tmp_path / f'run{i}'}"], tmp_path, tmp_path / f"state{i}")
             for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 1], (codes, [err[-2000:] for _, err in outs])
    loser = codes.index(1)
    assert "another SemaTune run (pid" in outs[loser][1] and "is tuning this host" in outs[loser][1]
    assert not (tmp_path / f"run{loser}" / "history.jsonl").exists()  # it never touched the host
    assert snapshot(sandbox) == before
    assert not any((tmp_path / f"state{i}" / "journal.json").exists() for i in range(2))


def test_a_tracking_store_dying_mid_run(sandbox: Path, tmp_path: Path, mlflow_template: Path) -> None:
    """The MLflow server is killed after two windows: the run still finishes and restores, history.jsonl is
    complete, summary.json says MLflow lost the run, and the exit code is not 0."""
    before = snapshot(sandbox)
    import shutil

    shutil.copy(mlflow_template, tmp_path / "server.db")
    with mlflow_server(f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "server") as url:
        run = tmp_path / "run"
        proc = _start(["experiment=quick", "target=synthetic", "tuner=random", "probes=false", f"host_root={sandbox}",
                       f"tracking.tracking_uri={url}", "loop.tuning_windows=6", "loop.window_seconds=0.3",
                       f"hydra.run.dir={run}"], tmp_path, tmp_path / "state",
                      env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"})
        _when_windows(run / "history.jsonl", 2, proc)
        port = int(url.rsplit(":", 1)[1])
        server = next(c.pid for c in psutil.net_connections("tcp")
                      if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN)
        os.killpg(os.getpgid(server), signal.SIGKILL)
        _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err[-3000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "FINISHED" and summary["restore"] == "PASS"
    assert "MLflow" in summary["tracking"] and "history.jsonl complete" in err
    records = _history_complete(run)
    assert len(records) == summary["windows"] and [r.phase for r in records].count("tuning") == 6
    assert snapshot(sandbox) == before and not (tmp_path / "state" / "journal.json").exists()


def _postmaster(cache: Path) -> int:
    """The pid of the running PostgreSQL server whose data dir is under ``cache``."""
    for pidfile in cache.rglob("postmaster.pid"):
        pid = int(pidfile.read_text().split("\n", 1)[0])
        if psutil.pid_exists(pid):
            return pid
    raise AssertionError(f"no running PostgreSQL under {cache}")


@pytest.mark.benchmark_smoke
def test_postgres_killed_mid_window(cli, sandbox: Path, pg_cache_dir: Path) -> None:
    """SIGKILL to the postmaster during a pgbench window: the run ends by the engine's failure rule
    (``loop.max_consecutive_failures``: exit 1), the tree is byte-identical, every window is in the history and
    MLflow says FAILED."""
    before = snapshot(sandbox)
    run = cli.cwd / "run"
    proc = _start(["target=pgbench_select", "tuner=random", "osparam=[vm_swappiness,vm_dirty_ratio]",
                   f"host_root={sandbox}", "experiment=quick", "loop.tuning_windows=8", "loop.window_seconds=1",
                   "target.scale=1", f"target.cache_dir={pg_cache_dir}", "loop.foreign_cpu_limit=null",
                   f"hydra.run.dir={run}"],
                  cli.cwd, cli.cwd.parent / "state")
    _when_windows(run / "history.jsonl", 2, proc, timeout_s=600)
    time.sleep(0.3)  # inside window 2
    os.kill(_postmaster(pg_cache_dir), signal.SIGKILL)
    _, err = proc.communicate(timeout=600)
    records = _history_complete(run)
    summary = json.loads((run / "summary.json").read_text())
    assert "failed" not in [r.status for r in records[:2]], [r.error for r in records]
    assert [r.status for r in records[-3:]] == ["failed"] * 3, [r.error for r in records]
    assert (proc.returncode, summary["status"]) == (1, "FAILED"), err[-3000:]  # nothing restarts the server
    assert summary["windows"] == len(records) and summary["restore"] == "PASS"
    assert snapshot(sandbox) == before and not (cli.cwd.parent / "state" / "journal.json").exists()
    import sqlite3

    with sqlite3.connect(cli.cwd / "mlflow.db") as conn:
        (run_id, status), = conn.execute("select run_uuid, status from runs").fetchall()
        steps = {s for (s,) in conn.execute("select distinct step from metrics where run_uuid = ? and key = 'phase'",
                                            (run_id,))}
    assert status == summary["status"] and steps == {r.window for r in records}
