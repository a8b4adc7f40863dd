"""The tuners through the real command line: a sweep of all of them, and a missing extra."""

from __future__ import annotations

from pathlib import Path

import pytest

from sematune.engine.records import read_history
from sematune.tracking.mlflow_tracker import mlflow_client
from tests.conftest import requires

ALL = ["fixed", "random", "bayesian", "mlos", "qlearning", "dqn"]


@pytest.mark.slow
def test_sweep_of_every_tuner_makes_one_parent_with_six_finished_children(cli, sandbox: Path) -> None:
    for module in ("smac", "mlos_core", "torch"):
        requires(module, reason=f"the sweep includes a tuner that needs {module}")
    result = cli("-m", f"tuner={','.join(ALL)}", "target=synthetic", f"host_root={sandbox}", "experiment=quick",
                 "target.window_time_scale=0.05", "probes=false", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    client = mlflow_client(f"sqlite:///{cli.cwd / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("sematune")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    parents = {r.info.run_id: r for r in runs if not r.data.tags.get("mlflow.parentRunId")}
    assert len(parents) == 1
    assert len(children) == len(ALL)
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == set(parents)
    assert all(c.info.status == "FINISHED" for c in children)
    tuners = sorted(c.data.params.get("tuner._target_", "").rsplit(".", 1)[-1] for c in children)
    assert tuners == sorted(["FixedTuner", "RandomTuner", "BayesianTuner", "MlosTuner", "QLearningTuner",
                             "DQNTuner"])
    for child in children:  # the engine logged each tuning window's tuner time
        assert client.get_metric_history(child.info.run_id, "time/tuner_s")
    assert "bayesian tuner: best configuration {" in result.stderr + result.stdout
    histories = list((cli.cwd / "multirun").glob("**/history.jsonl"))
    assert len(histories) == len(ALL)
    for history in histories:  # the engine never had to clip or reject a tuner's proposal, stable phase included
        records = read_history(history)
        assert [r for r in records if r.clipped or r.rejected] == [], history
        assert any(r.phase == "stable" for r in records)


def test_missing_extra_is_a_one_line_config_error(cli, sandbox: Path, tmp_path: Path) -> None:
    """With smac unimportable the run stops before any write (exit 2) and names the pip extra."""
    shadow = tmp_path / "shadow" / "smac"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named smac (hidden by the test)')\n")
    result = cli("tuner=bayesian", "target=synthetic", f"host_root={sandbox}", "experiment=quick",
                 "tracking.enabled=false", "probes=false", env={"PYTHONPATH": str(shadow.parent)})
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in (result.stderr + result.stdout).splitlines() if "config error" in line]
    assert len(errors) == 1 and "tuner" in errors[0] and "pip install 'sematune[bayesian]'" in errors[0]
