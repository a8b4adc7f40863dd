"""Real schedulers on this machine: a one-node SLURM cluster and a local Ray cluster (head on loopback),
plus the MLflow server on PostgreSQL that every job of a distributed sweep logs to."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from sematune.targets._process import free_port
from tests.conftest import REPO, requires
from tests.tracking.servers import mlflow_server, postgres_database, postgres_uri

SLURM_SCRIPT = REPO / "scripts" / "slurm_cluster.sh"


@pytest.fixture
def mlflow_url(pg_cache_dir: Path, tmp_path: Path) -> Iterator[str]:
    """An ``mlflow server`` on loopback whose backend store is a PostgreSQL database."""
    with postgres_database(pg_cache_dir) as cluster:
        with mlflow_server(postgres_uri(cluster), tmp_path / "mlflow-server", artifacts=tmp_path / "artifacts") as url:
            yield url


@pytest.fixture
def slurm_cluster() -> Iterator[dict[str, str]]:
    """A one-node SLURM cluster (munged + slurmctld + slurmd, root) started by ``scripts/slurm_cluster.sh``;
    yields the environment that points SLURM's commands at it."""
    requires(binary=("slurmctld", "slurmd", "munged", "sbatch"), root=True,
             reason="a SLURM cluster needs slurm-wlm and munge (make test installs them) and root")
    work = Path(tempfile.mkdtemp(prefix="slurm-", dir="/tmp"))  # short paths: unix sockets live here
    started = subprocess.run([str(SLURM_SCRIPT), "start", str(work)], capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
    try:
        yield {**os.environ, "SLURM_CONF": str(work / "slurm.conf")}
    finally:
        subprocess.run([str(SLURM_SCRIPT), "stop", str(work)], capture_output=True, text=True, timeout=120)
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def ray_cluster() -> Iterator[str]:
    """A Ray head on 127.0.0.1 offering one ``sematune_host`` (this machine is one tuning host); yields its address."""
    requires("ray", reason="Ray (pip install 'sematune[ray]'; make setup installs it)")
    ray = str(Path(sys.executable).with_name("ray"))
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short paths: unix sockets live here
    port = free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    started = subprocess.run(
        [ray, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
         '--resources={"sematune_host": 1}', "--include-dashboard=false", "--disable-usage-stats",
         f"--temp-dir={temp}"], capture_output=True, text=True, timeout=180, env=env, cwd=temp)
    assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, text=True, timeout=120, env=env)
        shutil.rmtree(temp, ignore_errors=True)
