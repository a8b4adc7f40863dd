"""The sweep every scheduler test runs: 4 jobs, each on its own sandbox host tree (standing in for a
node), all logging to one MLflow server on PostgreSQL; one job's process is SIGKILLed mid-run;
then ``resume=true`` reruns only that job."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tests.safety._helpers import STATE_PREFIX, snapshot

#: Each job's windows last 0.3 s (synthetic target): long enough to kill one mid-run.
SWEEP = ["experiment=quick", "target=synthetic", "target.window_time_scale=0.3", "tuner=fixed,random", "seed=1,2",
         "tracking.experiment=distributed"]
#: The job killed mid-run: tuner=random seed=1, which has written non-default knobs by its 3rd window.
KILLED = 2


@dataclass
class Killer:
    """Once job ``job`` has run ``windows`` windows, sends ``sig`` to its tuning process (the pid in its
    host lock), or to ``signal_pid`` when given (the submitting command)."""

    sweep_dir: Path
    host: Path
    job: int = KILLED
    windows: int = 3
    signal_pid: int | None = None
    sig: int = signal.SIGKILL
    #: the host tree's files before the sweep: ``killed["tuned"]`` then says whether the job had changed them
    original: dict[str, bytes] | None = None
    killed: dict[str, Any] = field(default_factory=dict)

    def _run(self) -> None:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not self.killed:
            runs = list(self.sweep_dir.glob(f"{self.job}_*/target/windows"))
            done = len(list(runs[0].iterdir())) if runs else 0
            lock = self.host / STATE_PREFIX / "lock"
            pid = lock.read_text().strip() if lock.exists() else ""
            if done >= self.windows and pid.isdigit():
                target = self.signal_pid or int(pid)
                tuned = None if self.original is None else snapshot(self.host) != self.original
                self.killed.update(pid=target, windows=done, tuned=tuned)
                os.kill(target, self.sig)
                return
            time.sleep(0.05)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        return thread


def make_hosts(root: Path, snapshot_tree: Path) -> list[Path]:
    """Four host trees, one per job, copies of this machine's knob files."""
    for n in range(4):
        shutil.copytree(snapshot_tree, root / f"h{n}", symlinks=True)
    return [root / f"h{n}" for n in range(4)]


def sweep_args(hosts_root: Path, sweep_dir: Path, url: str) -> list[str]:
    return [*SWEEP, f"host_root={hosts_root}/h${{hydra:job.num}}", f"host.state_dir={hosts_root}/h${{hydra:job.num}}/{STATE_PREFIX}",
            f"hydra.sweep.dir={sweep_dir}", f"tracking.tracking_uri={url}"]


def runs_of(url: str) -> tuple[Any, list[Any], Any]:
    """(client, the sweep's job runs oldest first, the parent run) from the MLflow server."""
    from sematune.tracking.mlflow_tracker import mlflow_client

    client = mlflow_client(url)
    exp = client.get_experiment_by_name("distributed")
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])
    parents = [r for r in runs if r.data.tags.get("sematune.kind") == "sweep"]
    assert len(parents) == 1, [r.data.tags for r in parents]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    return client, children, parents[0]


def assert_one_job_at_a_time(children: list[Any]) -> None:
    """The jobs shared one machine: the scheduler ran them one after another (never two at once).
    (A killed job's run was closed by the sweep at its end, so only finished runs have true ends.)"""
    spans = sorted((r.info.start_time, r.info.end_time) for r in children if r.info.status == "FINISHED")
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert end <= start, f"two jobs ran at once: {spans}"


def assert_same_tree(host: Path, original: dict[str, bytes]) -> None:
    now = snapshot(host)
    changed = sorted(k for k in original if now.get(k) != original[k])
    assert not changed, f"host tree {host} differs from the original in {changed[:5]}"


def check_killed_sweep(res: Any, url: str, hosts: list[Path], original: dict[str, bytes], killer: Killer,
                       check_scheduler_ids: Callable[[dict[str, str]], None]) -> None:
    """After the first sweep: exit 1, the dead job FAILED in MLflow, the others FINISHED, its host not restored yet."""
    out = res.stdout[-6000:] + res.stderr[-6000:]
    assert killer.killed, "the job was never killed: " + out
    assert res.returncode == 1 and "1 sweep job(s) failed" in res.stderr, out
    client, children, parent = runs_of(url)
    by_job = {r.data.tags["hydra.job.num"]: r for r in children}
    assert sorted(by_job) == ["0", "1", "2", "3"], out
    assert by_job[str(KILLED)].info.status == "FAILED", out
    assert "died" in by_job[str(KILLED)].data.tags.get("failure", ""), by_job[str(KILLED)].data.tags
    assert all(r.info.status == "FINISHED" for n, r in by_job.items() if n != str(KILLED)), out
    assert parent.info.status == "FAILED" and parent.data.tags["jobs_failed"] == "1"
    # every job ran as a job of the scheduler, which knows how it ended
    ids = {n: r.data.tags.get("scheduler.job_id", "") for n, r in by_job.items()}
    assert all(ids.values()) and len(set(ids.values())) == 4, ids
    check_scheduler_ids(ids)
    assert_one_job_at_a_time(children)
    # the killed job's host is left as it was (SIGKILL cannot be caught), its journal waiting
    assert (hosts[KILLED] / STATE_PREFIX / "journal.json").exists()
    assert snapshot(hosts[KILLED]) != original
    for n, host in enumerate(hosts):
        if n != KILLED:
            assert_same_tree(host, original)


def check_resumed_sweep(res: Any, url: str, hosts: list[Path], original: dict[str, bytes], sweep_dir: Path) -> None:
    """After ``resume=true``: only the dead job ran again; every host restored; the report on the parent."""
    from tests.tracking.test_sweep import REPORT_FILES

    out = res.stdout[-6000:] + res.stderr[-6000:]
    assert res.returncode == 0, out
    client, children, parent = runs_of(url)
    assert len(children) == 5, [(r.data.tags.get("hydra.job.num"), r.info.status) for r in children]
    rerun = children[-1]
    assert rerun.data.tags["hydra.job.num"] == str(KILLED) and rerun.info.status == "FINISHED"
    assert parent.info.status == "FINISHED" and parent.data.tags["jobs_failed"] == "0"
    assert sorted(p.parent.name[0] for p in sweep_dir.glob("*/skipped.json")) == ["0", "1", "3"], out
    rerun_log = next(sweep_dir.glob(f"{KILLED}_*/sematune.log")).read_text()
    assert "stale journal" in rerun_log and "restoring the host first" in rerun_log, rerun_log[-3000:]
    for host in hosts:
        assert_same_tree(host, original)
        assert not (host / STATE_PREFIX / "journal.json").exists()
    names = {a.path.split("/")[-1] for a in client.list_artifacts(parent.info.run_id, "report")}
    assert names >= REPORT_FILES, names
