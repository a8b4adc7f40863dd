"""Real sweeps on the synthetic target in a sandbox: parent run, children, report artifacts, resume."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import cli_args


QUICK = ["target=synthetic", "experiment=quick", "target.window_time_scale=0.05"]
REPORT_FILES = {"report.html", "report.md", "report.json", "comparison_bars.png", "objective_per_window.png",
                "knobs_best_synthetic.png"}


def client_for(workdir: Path):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}")


def sweep_runs(client) -> tuple[object, list]:
    exp = client.get_experiment_by_name("sematune")
    runs = client.search_runs([exp.experiment_id], max_results=500)
    parents = [r for r in runs if r.data.tags.get("sematune.kind") == "sweep"]
    assert len(parents) == 1, [r.data.tags for r in parents]
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    return parent, children


def report_json(client, run_id: str, dst: Path) -> dict:
    path = client.download_artifacts(run_id, "report/report.json", str(dst))
    return json.loads(Path(path).read_text())


def only_sweep_dir(workdir: Path) -> Path:
    dirs = [p.parent for p in (workdir / "multirun").glob("*/*/mlflow_parent_run_id")]
    assert len(dirs) == 1, dirs
    return dirs[0]


@pytest.mark.slow
def test_sweep_makes_parent_children_and_report(cli, sandbox: Path, tmp_path: Path) -> None:
    res = cli("-m", *QUICK, "tuner=fixed,random", "seed=1,2", f"host_root={sandbox}")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    out = res.stdout + res.stderr
    assert "vs fixed" in out and "geo-mean" in out and "random" in out  # the table on the terminal

    client = client_for(cli.cwd)
    parent, children = sweep_runs(client)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["jobs"] == "4" and parent.data.tags["jobs_failed"] == "0"
    assert parent.data.tags["sematune.report"] == "report/report.html"
    assert sorted((c.data.tags["tuner"], c.data.tags["seed"]) for c in children) == [
        ("fixed", "1"), ("fixed", "2"), ("random", "1"), ("random", "2")]
    assert all(c.info.status == "FINISHED" and c.data.tags.get("sematune.job_key") for c in children)
    assert {a.path.split("/")[-1] for a in client.list_artifacts(parent.info.run_id, "report")} >= REPORT_FILES

    logged = report_json(client, parent.info.run_id, tmp_path / "dl")
    assert [r["status"] for r in logged["runs"]] == ["FINISHED"] * 4
    assert {r["run_id"] for r in logged["runs"]} == {c.info.run_id for c in children}
    random_cell = next(c for c in logged["cells"] if c["arm"] == "random")
    assert random_cell["counted"] == 2 and random_cell["relative"] > 0 and random_cell["ci_low"] is not None

    # rebuilt later from the sweep dir's files alone: the same numbers
    sweep_dir = only_sweep_dir(cli.cwd)
    again = cli(str(sweep_dir), "--files", "--no-log", "--out", str(tmp_path / "again"), module="sematune.report")
    assert again.returncode == 0, again.stderr
    rebuilt = json.loads((tmp_path / "again" / "report.json").read_text())
    assert [(c["arm"], c["mean"], c["relative"], c["ci_low"], c["ci_high"]) for c in rebuilt["cells"]] == [
        (c["arm"], c["mean"], c["relative"], c["ci_low"], c["ci_high"]) for c in logged["cells"]]
    # and from the parent run id
    by_id = cli(parent.info.run_id, "--tracking-uri", "sqlite:///mlflow.db", "--no-log", "--out",
                str(tmp_path / "by_id"), module="sematune.report")
    assert by_id.returncode == 0, by_id.stderr
    assert json.loads((tmp_path / "by_id" / "report.json").read_text())["cells"] == logged["cells"]


def _interrupt_second_job(args: list[str], cwd: Path, env: dict[str, str], deadline_s: float = 300) -> str:
    """Run a sweep and press Ctrl-C (SIGINT) while its job #1 is measuring; return the output."""
    proc = subprocess.Popen([sys.executable, "-m", "sematune", *cli_args(args)], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    pending: queue.Queue[str | None] = queue.Queue()  # a reader thread, so the deadline fires on silence too
    threading.Thread(target=lambda: [*map(pending.put, proc.stdout), pending.put(None)], daemon=True).start()
    lines, in_job_1, sent = [], False, False
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            line = pending.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            proc.kill()
            lines.append(f"[test] silent until the {deadline_s:.0f} s deadline: killed\n")
            break
        if line is None:
            break
        lines.append(line)
        in_job_1 = in_job_1 or "#1 :" in line
        if in_job_1 and not sent and " window 1 " in line:
            os.kill(proc.pid, signal.SIGINT)
            sent = True
    proc.wait(timeout=60)
    assert sent, "".join(lines)[-3000:]
    return "".join(lines)


@pytest.mark.slow
def test_resume_skips_finished_jobs_and_reruns_the_interrupted_one(cli, sandbox: Path, state_dir: Path,
                                                                  tmp_path: Path) -> None:
    args = ["-m", "target=synthetic", "experiment=quick", "target.window_time_scale=0.5", "tuner=fixed",
            "seed=1,2,3", f"host_root={sandbox}"]
    env = {**os.environ, "SEMATUNE_STATE_DIR": str(state_dir), "PYTHONUNBUFFERED": "1"}
    first = _interrupt_second_job(args, cli.cwd, env)
    client = client_for(cli.cwd)
    parent, children = sweep_runs(client)
    status = {c.data.tags["seed"]: c.info.status for c in children}
    assert status == {"1": "FINISHED", "2": "KILLED", "3": "FINISHED"}, first[-3000:]
    assert parent.info.status == "FAILED"

    res = cli(*args, "resume=true")  # the same command, resumed
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert f"reusing sweep parent run {parent.info.run_id}" in out
    assert out.count("already finished in MLflow run") == 2
    parent_again, children = sweep_runs(client)  # still one sweep parent: the same run
    assert parent_again.info.run_id == parent.info.run_id and parent_again.info.status == "FINISHED"
    by_seed: dict[str, list[str]] = {}
    for c in sorted(children, key=lambda c: c.info.start_time):
        by_seed.setdefault(c.data.tags["seed"], []).append(c.info.status)
    assert by_seed == {"1": ["FINISHED"], "2": ["KILLED", "FINISHED"], "3": ["FINISHED"]}
    logged = report_json(client, parent.info.run_id, tmp_path / "dl")
    assert [r["status"] for r in logged["runs"]] == ["FINISHED"] * 3 and logged["cells"][0]["counted"] == 3
    resumed_dir = max((cli.cwd / "multirun").glob("*/*"), key=lambda p: p.stat().st_mtime)
    assert len(list(resumed_dir.glob("*/skipped.json"))) == 2


def test_resume_without_an_earlier_sweep_starts_a_new_one(cli, sandbox: Path) -> None:
    res = cli("-m", *QUICK, "tuner=fixed", "seed=1", f"host_root={sandbox}", "resume=true",
              "sweep_name=first-of-its-name", "loop.tuning_windows=1", "loop.stable_windows=1")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "no earlier sweep named 'first-of-its-name'" in out
    parent, children = sweep_runs(client_for(cli.cwd))
    assert parent.data.tags["sematune.sweep_name"] == "first-of-its-name" and len(children) == 1
