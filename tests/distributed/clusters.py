"""Real schedulers on this machine, started and always stopped: a one-node SLURM cluster (through
``scripts/slurm_cluster.sh``, as the docs show) and a local Ray cluster (head on loopback).

Shared by the tests' fixtures and ``benchmarks/launchers.py``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from sematune.targets._process import free_port

REPO = Path(__file__).resolve().parents[2]
SLURM_SCRIPT = REPO / "scripts" / "slurm_cluster.sh"


@contextlib.contextmanager
def slurm_cluster() -> Iterator[dict[str, str]]:
    """munged + slurmctld + slurmd (as root); yields the environment that points SLURM's commands at it."""
    work = Path(tempfile.mkdtemp(prefix="slurm-", dir="/tmp"))  # short paths: unix sockets live here
    started = subprocess.run([str(SLURM_SCRIPT), "start", str(work)], capture_output=True, text=True, timeout=180)
    try:
        if started.returncode != 0:
            raise RuntimeError(f"{SLURM_SCRIPT.name} start failed: {started.stdout[-3000:]}{started.stderr[-3000:]}")
        yield {**os.environ, "SLURM_CONF": str(work / "slurm.conf")}
    finally:
        subprocess.run([str(SLURM_SCRIPT), "stop", str(work)], capture_output=True, text=True, timeout=180)
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def ray_cluster(num_cpus: int = 2) -> Iterator[str]:
    """A Ray head on 127.0.0.1 offering one ``sematune_host`` (this machine is one tuning host); yields its address."""
    ray = str(Path(sys.executable).with_name("ray"))
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short paths: unix sockets live here
    port = free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    started = subprocess.run(
        [ray, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", f"--num-cpus={num_cpus}",
         '--resources={"sematune_host": 1}', "--include-dashboard=false", "--disable-usage-stats",
         f"--temp-dir={temp}"], capture_output=True, text=True, timeout=180, env=env, cwd=temp)
    try:
        if started.returncode != 0:
            raise RuntimeError(f"ray start failed: {started.stdout[-3000:]}{started.stderr[-3000:]}")
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, text=True, timeout=120, env=env)
        shutil.rmtree(temp, ignore_errors=True)
