"""The command line: help, composed config, bad input (exit 2, one line, no host write), sweeps."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from sematune.tracking.description import fmt, verdict_line
from tests.engine.test_journal import snapshot
from tests.instrumented import read_write_log


def test_help_lists_groups_and_options(cli) -> None:
    out = cli("--help")
    assert out.returncode == 0
    for line in ("target: ", "tuner: ", "osparam: ", "experiment: "):
        assert line in out.stdout
    assert "synthetic" in out.stdout and "vm_swappiness" in out.stdout and "quick" in out.stdout


def test_cfg_job_shows_every_target(cli) -> None:
    out = cli("--cfg", "job", "target=synthetic", "tuner=random", "osparam=vm")
    assert out.returncode == 0
    assert "_target_: sematune.targets.synthetic.SyntheticTarget" in out.stdout
    assert "_target_: sematune.tuners.random_search.RandomTuner" in out.stdout
    assert out.stdout.count("_target_: sematune.osparams.") == 16


@pytest.mark.parametrize(
    "override, expected",
    [
        ("tuner=nope", "Could not find 'tuner/nope'"),
        ("osparam=[vm_swappiness,nope]", "osparam/nope"),
        ("osparam.vm_dirty_ratio.low=90", "osparam.vm_dirty_ratio: empty or inverted range"),
        ("osparam.vm_dirty_ratio.high=abc", "osparam.vm_dirty_ratio: low/high must be numbers"),
        ("loop.window_seconds=fast", "loop.window_seconds"),
        ("loop.tuning_windows=0", "loop.tuning_windows"),
        ("loop.window_seconds=0", "loop.window_seconds"),
        ("loop.stable_windows=-1", "loop.stable_windows"),
        ("loop.typo=1", "loop.typo"),
        ("objective.goal=up", "objective.goal"),
        ("+osparam.evil={_target_:sematune.osparams.SysfsValue,path:/etc/hostname,low:0,high:1}",
         "refusing to write /etc/hostname"),
        ("host.allowed_paths=[/proc/sys/net/*]", "not on the allow-list"),
        ("+tuner.parameters={vm_dirty_ratio: 500}", "tuner.parameters.vm_dirty_ratio"),
        ("loop.foreign_cpu_limit=2", "loop.foreign_cpu_limit: Value error, must be auto, null"),
        ("target._target_=os.system", "target._target_"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(cli, sandbox: Path, state_dir: Path, tmp_path: Path,
                                                          override: str, expected: str) -> None:
    before = snapshot(sandbox)
    tuner = [] if override.startswith(("tuner=", "+tuner")) else ["tuner=random"]
    if override.startswith("+tuner"):
        tuner = ["tuner=fixed"]
    writes = tmp_path / "writes.jsonl"
    out = cli(override, *tuner, "target=synthetic", f"host_root={sandbox}", "experiment=quick",
              "tracking.enabled=false", module="tests.instrumented", env={"SEMATUNE_TEST_WRITE_LOG": str(writes)})
    assert_refused(out, expected)
    assert read_write_log(writes) == []  # not even a write that a restore undid
    assert snapshot(sandbox) == before
    assert not (state_dir / "journal.json").exists()
    assert (cli.cwd / "mlflow.db").read_bytes() == cli.mlflow_template.read_bytes()  # not tracked


def assert_refused(out, expected: str) -> None:
    """Exit code 2 and stderr exactly one error line, which contains ``expected``."""
    assert out.returncode == 2, out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and "error" in lines[0].lower(), out.stderr
    assert expected in lines[0]


def test_unavailable_knobs_are_listed_or_dropped(cli, sandbox: Path) -> None:
    shutil.rmtree(sandbox / "proc/sys/net")
    out = cli("osparam=[vm_swappiness,net_somaxconn,net_tcp_sack]", "target=synthetic", f"host_root={sandbox}",
              "experiment=quick",
              "tracking.enabled=false")
    assert out.returncode == 2
    assert "2 knob(s) unavailable" in out.stderr and "net_somaxconn" in out.stderr and "net_tcp_sack" in out.stderr
    out = cli("osparam=[vm_swappiness,net_somaxconn]", "target=synthetic", "tuner=random", "osparam_skip_unavailable=true",
              f"host_root={sandbox}",
              "experiment=quick", "loop.tuning_windows=1", "loop.stable_windows=0", "tracking.enabled=false",
              "target.window_time_scale=0")
    assert out.returncode == 0, out.stderr
    assert "dropping 1 unavailable knob(s): net_somaxconn" in out.stderr


def test_not_root_says_so_and_suggests_a_sandbox(compose, monkeypatch: pytest.MonkeyPatch) -> None:
    """As an ordinary user /proc/sys and /sys are read-only; simulate that uid (the venv lives in /root)."""
    from sematune.components import build_components
    from sematune.errors import ConfigError

    real_access = os.access
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(os, "access", lambda p, mode: False if mode == os.W_OK and str(p).startswith(("/proc/sys", "/sys"))
                        else real_access(p, mode))
    with pytest.raises(ConfigError) as err:
        build_components(compose("osparam=[vm_swappiness,vm_thp_enabled]", "tracking.enabled=false"))
    message = str(err.value)
    assert "needs root" in message and "vm_swappiness" in message and "host_root=" in message
    assert "sematune.osparams.sandbox" in message


def test_a_run_on_a_sandbox_changes_it_and_puts_it_back(cli, sandbox: Path, state_dir: Path) -> None:
    before = snapshot(sandbox)
    out = cli("target=synthetic", "tuner=random", f"host_root={sandbox}", "experiment=quick",
              "target.window_time_scale=0.05")
    assert out.returncode == 0, out.stderr
    assert snapshot(sandbox) == before
    assert "host restore PASS" in out.stderr
    assert not (state_dir / "journal.json").exists()
    run_dirs = list((cli.cwd / "outputs").glob("*/*"))
    assert len(run_dirs) == 1
    history = (run_dirs[0] / "history.jsonl").read_text().splitlines()
    assert len(history) == 1 + 4 + 2 * (1 + 1) + 2  # baseline, tuning, confirm (1 candidate × 2), stable
    summary = json.loads((run_dirs[0] / "summary.json").read_text())
    shown = " ".join(out.stderr.split())  # the closing block folds lines at 80 columns
    assert f"Best tuning-phase window: {fmt(summary['best_tuning_objective'])}" in shown
    assert f"Verdict: {verdict_line(summary)}" in shown
    assert f"stable mean {fmt(summary['verdict']['stable_mean'])} vs interleaved defaults" in shown


def test_sweep_makes_one_parent_with_four_children(cli, sandbox: Path) -> None:
    from mlflow import MlflowClient

    out = cli("-m", "experiment=quick", "target=synthetic", "tuner=fixed,random", "seed=1,2", f"host_root={sandbox}",
              "target.window_time_scale=0.02")
    assert out.returncode == 0, out.stderr
    client = MlflowClient(f"sqlite:///{cli.cwd / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("sematune")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("sematune.kind") == "sweep"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(children) == 4 and all(r.info.status == "FINISHED" for r in children)
    assert sorted((r.data.tags["tuner"], r.data.tags["seed"]) for r in children) == [
        ("fixed", "1"), ("fixed", "2"), ("random", "1"), ("random", "2")]
    # fixed has no candidate but the defaults: no confirm windows; random confirms one candidate in 2 rounds
    windows = {"fixed": 1 + 4 + 2, "random": 1 + 4 + 4 + 2}
    assert all(len(client.get_metric_history(r.info.run_id, "objective")) == windows[r.data.tags["tuner"]]
               for r in children)
    assert all("verdict/gain" in r.data.metrics and r.data.tags["verdict.frozen"] in ("tuned", "defaults")
               for r in children)


def test_a_failed_sweep_job_fails_the_sweep_but_not_the_others(cli, sandbox: Path) -> None:
    out = cli("-m", "experiment=quick", "target=synthetic", "tuner=random", "loop.tuning_windows=1,0",
              f"host_root={sandbox}", "target.window_time_scale=0", "tracking.enabled=false")
    assert out.returncode == 1
    assert "1 sweep job(s) failed" in out.stderr
    assert len(list((cli.cwd / "multirun").glob("*/*/*/history.jsonl"))) == 1
