"""Fixtures: a one-node SLURM cluster, a local Ray cluster, and the MLflow server on PostgreSQL that
every job of a distributed sweep logs to."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import requires
from tests.distributed import clusters
from tests.tracking.servers import mlflow_server, postgres_database, postgres_uri


@pytest.fixture
def mlflow_url(pg_cache_dir: Path, tmp_path: Path) -> Iterator[str]:
    """An ``mlflow server`` on loopback whose backend store is a PostgreSQL database."""
    with postgres_database(pg_cache_dir / "mlflow-backend") as cluster:
        with mlflow_server(postgres_uri(cluster), tmp_path / "mlflow-server", artifacts=tmp_path / "artifacts") as url:
            yield url


@pytest.fixture
def slurm_cluster() -> Iterator[dict[str, str]]:
    requires(binary=("slurmctld", "slurmd", "munged", "sbatch"), root=True,
             reason="a SLURM cluster needs slurm-wlm and munge (make test installs them) and root")
    with clusters.slurm_cluster() as env:
        yield env


@pytest.fixture
def ray_cluster() -> Iterator[str]:
    requires("ray", reason="Ray (pip install 'sematune[ray]'; make setup installs it)")
    with clusters.ray_cluster() as address:
        yield address
