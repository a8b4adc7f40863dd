"""A sweep through a real one-node SLURM cluster (``hydra/launcher=submitit_slurm``), a job killed
mid-run, then resumed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hydra_plugins.sematune_launchers.submitit_slurm import parse_scontrol_jobs
from tests.distributed._scenario import (
    Killer, KILLED, check_killed_sweep, check_resumed_sweep, make_hosts, sweep_args,
)
from tests.safety._helpers import snapshot


@pytest.mark.slow
def test_slurm_sweep_exclusive_jobs_a_killed_job_fails_and_resume_reruns_only_it(
        cli, slurm_cluster: dict[str, str], mlflow_url: str, host_snapshot: Path, tmp_path: Path) -> None:
    hosts = make_hosts(tmp_path / "hosts", host_snapshot)
    original = snapshot(hosts[0])
    sweep_dir = tmp_path / "sweep"
    args = ["-m", "hydra/launcher=submitit_slurm", "hydra.launcher.timeout_min=10",
            *sweep_args(tmp_path / "hosts", sweep_dir, mlflow_url)]
    env = {"SLURM_CONF": slurm_cluster["SLURM_CONF"]}

    def slurm_states(ids: dict[str, str]) -> None:
        shown = subprocess.run(["scontrol", "show", "job", "--oneliner"], capture_output=True, text=True,
                               env=slurm_cluster, check=True).stdout
        states = {n: parse_scontrol_jobs(shown)[i]["State"] for n, i in ids.items()}
        assert states == {"0": "COMPLETED", "1": "COMPLETED", str(KILLED): "FAILED", "3": "COMPLETED"}, states
        assert "OverSubscribe=NO" in shown or "Exclusive" in shown or "OverSubscribe=USER" in shown, shown[:2000]

    killer = Killer(sweep_dir, hosts[KILLED])
    killer.start()
    res = cli(*args, env=env, timeout=900)
    check_killed_sweep(res, mlflow_url, hosts, original, killer, slurm_states)
    assert "died without a result" in res.stderr + res.stdout

    res = cli(*args, "resume=true", env=env, timeout=900)
    check_resumed_sweep(res, mlflow_url, hosts, original, sweep_dir)
