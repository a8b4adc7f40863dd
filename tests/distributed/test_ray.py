"""A sweep through a real local Ray cluster (``hydra/launcher=ray``), a job killed mid-run, then resumed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.distributed._scenario import (
    Killer, KILLED, check_killed_sweep, check_resumed_sweep, make_hosts, sweep_args,
)
from tests.safety._helpers import snapshot


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
