"""Launcher presets compose; joblib refuses to share a host and runs in parallel on per-job sandboxes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate

from sematune.errors import ConfigError
from sematune.tracking.callbacks import check_parallel_launch
from tests.conftest import requires

# conf/hydra/launcher/*.yaml deliberately sit on the plugins' schemas of the same name
pytestmark = pytest.mark.filterwarnings("ignore:(?s).*is validated against ConfigStore schema")


@pytest.fixture
def hydra_cfg():
    def _compose(*overrides: str):
        GlobalHydra.instance().clear()
        with initialize_config_module(config_module="sematune.conf", version_base="1.3"):
            return compose(config_name="config", overrides=list(overrides), return_hydra_config=True)

    yield _compose
    GlobalHydra.instance().clear()


def test_joblib_preset_is_sequential_by_default(hydra_cfg) -> None:
    launcher = hydra_cfg("hydra/launcher=joblib").hydra.launcher
    assert launcher._target_.endswith("JoblibLauncher") and launcher.n_jobs == 1
    requires("hydra_plugins.hydra_joblib_launcher")
    assert type(instantiate(launcher)).__name__ == "JoblibLauncher"


def test_submitit_preset_is_one_exclusive_node_per_job(hydra_cfg) -> None:
    launcher = hydra_cfg("hydra/launcher=submitit_slurm", "hydra.launcher.partition=tuning").hydra.launcher
    assert launcher._target_ == "hydra_plugins.sematune_launchers.submitit_slurm.SlurmLauncher"
    assert (launcher.nodes, launcher.tasks_per_node, launcher.max_num_timeout) == (1, 1, 0)
    assert launcher.additional_parameters.exclusive is True and launcher.partition == "tuning"
    assert launcher.additional_parameters.no_requeue is True  # SLURM's default requeues a failed node's jobs
    requires("hydra_plugins.hydra_submitit_launcher")
    made = instantiate(launcher, _convert_="all")
    assert made.params["additional_parameters"] == {"exclusive": True, "no_requeue": True}
    # the upstream launcher underneath (compared by name: Hydra's plugin scan may load its module twice)
    assert "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher" in {
        f"{c.__module__}.{c.__qualname__}" for c in type(made).__mro__}


def test_ray_preset_asks_for_one_host_resource_and_a_fresh_worker_per_job(hydra_cfg) -> None:
    launcher = hydra_cfg("hydra/launcher=ray", "hydra.launcher.ray.init.address=head:6379").hydra.launcher
    assert launcher._target_ == "hydra_plugins.sematune_launchers.ray.RayLauncher"
    assert launcher.ray.remote.resources.sematune_host == 1 and launcher.ray.remote.max_retries == 0
    assert launcher.ray.remote.max_calls == 1
    assert launcher.ray.init.address == "head:6379"
    made = instantiate(launcher, _convert_="all")
    assert made.init["address"] == "head:6379" and made.remote["resources"] == {"sematune_host": 1}


def test_ray_refuses_a_resource_no_node_offers() -> None:
    from hydra_plugins.sematune_launchers.ray import check_resources

    check_resources({"CPU": 2.0, "sematune_host": 1.0}, {"sematune_host": 1})
    with pytest.raises(ConfigError, match=r"hydra.launcher.ray.remote.resources: no node of the Ray cluster offers "
                                          r"sematune_host=1 \(the cluster has \{'CPU': 2.0\}\)"):
        check_resources({"CPU": 2.0, "node:127.0.0.1": 1.0}, {"sematune_host": 1})


def test_scontrol_job_lines_become_submitit_states() -> None:
    """SLURM without accounting: job states come from ``scontrol show job --oneliner`` (lines as 22.05 prints them)."""
    from hydra_plugins.sematune_launchers.submitit_slurm import parse_scontrol_jobs

    text = "\n".join([
        "JobId=5 ArrayJobId=2 ArrayTaskId=2 ArrayTaskThrottle=2 JobName=wrap UserId=root(0) JobState=COMPLETED "
        "Reason=None ExitCode=0:0 NodeList=vm BatchHost=vm",
        "JobId=2 ArrayJobId=2 ArrayTaskId=3-5%2 ArrayTaskThrottle=2 JobName=wrap JobState=PENDING "
        "Reason=JobArrayTaskLimit NodeList=(null)",
        "JobId=11 JobName=wrap UserId=root(0) JobState=FAILED Reason=NonZeroExitCode ExitCode=137:0 NodeList=vm",
        "No jobs in the system",
    ])
    states = {k: v["State"] for k, v in parse_scontrol_jobs(text).items()}
    assert states == {"2_2": "COMPLETED", "2_3": "PENDING", "2_4": "PENDING", "2_5": "PENDING", "11": "FAILED"}


def test_parallel_joblib_on_the_real_host_is_refused(hydra_cfg, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEMATUNE_STATE_DIR", raising=False)
    cfg = hydra_cfg("hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    with pytest.raises(ConfigError, match=r"hydra.launcher.n_jobs: joblib would run several jobs at once on the real"):
        check_parallel_launch(cfg)
    check_parallel_launch(hydra_cfg("hydra/launcher=joblib"))  # n_jobs=1: fine
    check_parallel_launch(hydra_cfg("+hydra.launcher.n_jobs=2"))  # not joblib: fine
    shared = hydra_cfg("hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "host_root=/tmp/one-sandbox")
    with pytest.raises(ConfigError, match="share the sandbox /tmp/one-sandbox"):
        check_parallel_launch(shared)
    per_job = hydra_cfg("hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "host_root=/tmp/st/h${hydra:job.num}",
                        "host.state_dir=/tmp/st/s${hydra:job.num}")
    check_parallel_launch(per_job)
    monkeypatch.setenv("SEMATUNE_STATE_DIR", "/tmp/one-state")
    with pytest.raises(ConfigError, match="share one journal/lock directory"):
        check_parallel_launch(hydra_cfg("hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                                        "host_root=/tmp/st/h${hydra:job.num}"))


def test_cli_refuses_a_shared_sandbox_before_any_job(cli, sandbox: Path) -> None:
    requires("hydra_plugins.hydra_joblib_launcher")
    res = cli("-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "target=synthetic", "tuner=fixed",
              "seed=1,2", "experiment=quick", f"host_root={sandbox}")
    assert res.returncode == 2
    assert "config error: hydra.launcher.n_jobs: parallel joblib jobs would share the sandbox" in res.stderr
    assert not (cli.cwd / "multirun").exists() or not list((cli.cwd / "multirun").glob("*/*/*/history.jsonl"))


@pytest.mark.slow
def test_joblib_runs_jobs_in_parallel_on_per_job_sandboxes(cli, sandbox: Path, tmp_path: Path) -> None:
    requires("hydra_plugins.hydra_joblib_launcher")
    for n in (0, 1):
        shutil.copytree(sandbox, tmp_path / "hosts" / f"h{n}", symlinks=True)
    res = cli("-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "target=synthetic", "tuner=fixed,random",
              "seed=1", "experiment=quick", "target.window_time_scale=0.05",
              f"host_root={tmp_path}/hosts/h${{hydra:job.num}}", f"host.state_dir={tmp_path}/state/s${{hydra:job.num}}")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{cli.cwd / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("sematune").experiment_id])
    parent = next(r for r in runs if r.data.tags.get("sematune.kind") == "sweep")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(c.data.tags["host_root"] for c in children) == [f"{tmp_path}/hosts/h0", f"{tmp_path}/hosts/h1"]
    assert all(c.info.status == "FINISHED" for c in children) and parent.info.status == "FINISHED"
    assert (tmp_path / "state" / "s0").is_dir() and (tmp_path / "state" / "s1").is_dir()
