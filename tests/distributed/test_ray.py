"""A sweep through a real local Ray cluster (``hydra/launcher=ray``), a job killed mid-run, then resumed."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import cli_args
from tests.distributed._scenario import (
    Killer, KILLED, assert_same_tree, check_killed_sweep, check_resumed_sweep, make_hosts, sweep_args,
)
from tests.safety._helpers import STATE_PREFIX, snapshot


def _ray_task_ids(ids: dict[str, str]) -> None:
    assert all(re.fullmatch(r"[0-9a-f]{48}", i) for i in ids.values()), ids


@pytest.mark.slow
def test_ray_sweep_one_job_per_host_a_killed_job_fails_and_resume_reruns_only_it(
        cli, ray_cluster: str, mlflow_url: str, host_snapshot: Path, tmp_path: Path) -> None:
    hosts = make_hosts(tmp_path / "hosts", host_snapshot)
    original = snapshot(hosts[0])
    sweep_dir = tmp_path / "sweep"
    args = ["-m", "hydra/launcher=ray", f"hydra.launcher.ray.init.address={ray_cluster}",
            *sweep_args(tmp_path / "hosts", sweep_dir, mlflow_url)]
    killer = Killer(sweep_dir, hosts[KILLED])
    killer.start()
    res = cli(*args, timeout=600)
    check_killed_sweep(res, mlflow_url, hosts, original, killer, _ray_task_ids)
    assert "died without a result" in res.stderr + res.stdout

    res = cli(*args, "resume=true", timeout=600)
    check_resumed_sweep(res, mlflow_url, hosts, original, sweep_dir)


def test_a_resource_no_node_offers_is_refused_before_any_job(cli, ray_cluster: str, tmp_path: Path) -> None:
    res = cli("-m", "hydra/launcher=ray", f"hydra.launcher.ray.init.address={ray_cluster}",
              "+hydra.launcher.ray.remote.resources.gpu_host=1", "experiment=quick", "target=synthetic",
              "tuner=fixed,random", f"hydra.sweep.dir={tmp_path / 'sweep'}", timeout=300)
    assert res.returncode == 2, res.stdout[-3000:] + res.stderr[-3000:]
    assert "config error: hydra.launcher.ray.remote.resources: no node of the Ray cluster offers gpu_host=1" \
        in res.stderr, res.stderr[-3000:]
    assert not list((tmp_path / "sweep").glob("*/summary.json"))


@pytest.mark.slow
def test_ctrl_c_of_a_ray_sweep_interrupts_its_jobs_and_every_host_is_restored(
        ray_cluster: str, host_snapshot: Path, tmp_path: Path, state_dir: Path) -> None:
    """Left alone, Ray would kill a job's worker outright when its driver exits: the host unrestored."""
    hosts = make_hosts(tmp_path / "hosts", host_snapshot)
    original = snapshot(hosts[0])
    sweep_dir = tmp_path / "sweep"
    args = cli_args(["-m", "hydra/launcher=ray", f"hydra.launcher.ray.init.address={ray_cluster}",
                     *sweep_args(tmp_path / "hosts", sweep_dir, "unused"), "tracking.enabled=false"])
    args[args.index("tuner=fixed,random")] = "tuner=random,fixed"  # job 0 has written tuned knobs by window 3
    proc = subprocess.Popen([sys.executable, "-m", "sematune", *args], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    killer = Killer(sweep_dir, hosts[0], job=0, windows=3, signal_pid=proc.pid, sig=signal.SIGINT, original=original)
    killer.start()
    out, _ = proc.communicate(timeout=300)
    assert killer.killed, out[-4000:]
    assert killer.killed["tuned"], "job 0 had not changed its host yet: the restore below would prove nothing"
    assert proc.returncode != 0, out[-4000:]
    assert "interrupted: stopping 4 unfinished Ray job(s)" in out, out[-4000:]
    for host in hosts:
        assert_same_tree(host, original)
        assert not (host / STATE_PREFIX / "journal.json").exists(), out[-4000:]
    assert not list(sweep_dir.glob("[123]_*/summary.json")), "queued jobs ran after the interrupt"
