"""A sweep against a shared-style MLflow server: ``mlflow server`` on loopback, PostgreSQL backend store."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.tracking.servers import mlflow_server, postgres_database, postgres_uri
from tests.tracking.test_sweep import QUICK, REPORT_FILES


@pytest.fixture
def postgres(pg_cache_dir: Path) -> Iterator[object]:
    """The project's PostgreSQL cluster manager (demoted when root), with an empty ``mlflow`` database."""
    with postgres_database(pg_cache_dir / "mlflow-backend") as cluster:
        yield cluster


@pytest.mark.slow
def test_two_job_sweep_through_an_mlflow_server_on_postgres(cli, sandbox: Path, postgres, tmp_path: Path) -> None:
    from sematune.tracking.mlflow_tracker import mlflow_client

    backend = postgres_uri(postgres)
    artifacts = tmp_path / "artifacts"
    with mlflow_server(backend, tmp_path / "server", artifacts=artifacts) as url:
        res = cli("-m", *QUICK, "tuner=fixed,random", "seed=1", f"host_root={sandbox}",
                  f"tracking.tracking_uri={url}", "tracking.experiment=shared")
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        # nothing went to the local SQLite file
        assert (cli.cwd / "mlflow.db").read_bytes() == cli.mlflow_template.read_bytes()

        client = mlflow_client(url)  # read back through the server's REST API
        exp = client.get_experiment_by_name("shared")
        runs = client.search_runs([exp.experiment_id])
        parent = next(r for r in runs if r.data.tags.get("sematune.kind") == "sweep")
        children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
        assert sorted(c.data.tags["tuner"] for c in children) == ["fixed", "random"]
        assert all(c.info.status == "FINISHED" for c in children) and parent.info.status == "FINISHED"
        # every window's metrics arrived (quick: 1 baseline + 4 tuning + 2 stable; random also confirms
        # one candidate in 2 rounds against the defaults: 4 more)
        for child in children:
            steps = sorted(m.step for m in client.get_metric_history(child.info.run_id, "objective"))
            windows = {"fixed": 7, "random": 11}[child.data.tags["tuner"]]
            assert steps == list(range(windows)), res.stdout[-4000:]
        assert {a.path.split("/")[-1] for a in client.list_artifacts(parent.info.run_id, "report")} >= REPORT_FILES

    # the runs live in PostgreSQL, the artifacts in the server's artifact store
    with postgres.connect("mlflow") as conn:  # type: ignore[attr-defined]
        stored = conn.execute("SELECT run_uuid, status FROM runs").fetchall()
    assert {r[0] for r in stored} == {parent.info.run_id, *(c.info.run_id for c in children)}
    assert list(artifacts.glob(f"*/{parent.info.run_id}/artifacts/report/report.html"))
