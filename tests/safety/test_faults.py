"""Fault matrix: SIGINT, SIGTERM and SIGKILL at seeded random points of a run, plus component faults.

Each case forks a child that runs a real session (synthetic target, random tuner, MLflow on
SQLite, a sandbox tree, short windows) and hits it at a seeded random moment — in preparation,
an apply, a window, a tuner call, the restore or the MLflow close. Afterwards (and after
``python -m sematune.restore`` for SIGKILL): the tree is byte-identical, no journal is left,
every window MLflow saw is in the history, MLflow does not say RUNNING, and the exit code does
not claim success for a run that did not finish.
"""

from __future__ import annotations

import random
import signal
from pathlib import Path

import pytest

from tests.safety._faultlab import Lab, make_lab, mlflow_state, run_case

POINTS_PER_SIGNAL = 20
LONGEST_S = 3.0


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, host_snapshot: Path) -> Lab:
    import shutil

    work = tmp_path_factory.mktemp("faults")
    tree = work / "host"
    shutil.copytree(host_snapshot, tree, symlinks=True)
    return make_lab(work, ["experiment=quick", "target=synthetic", "tuner=random", "probes=false",
                           "loop.tuning_windows=4", "loop.stable_windows=2", "loop.window_seconds=0.15",
                           "loop.settle_seconds=0"], tree=tree)


def test_an_undisturbed_run_finishes(lab: Lab) -> None:
    assert run_case(lab, "plain", None, 0.0) == 0
    assert mlflow_state(lab, "plain")[0] == "FINISHED"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_signal_at_random_points(lab: Lab, sig: signal.Signals) -> None:
    rng = random.Random(f"sematune-faults-{sig.name}")
    for point in range(POINTS_PER_SIGNAL):
        run_case(lab, f"{sig.name}-{point}", sig, rng.uniform(0.0, LONGEST_S))


def test_a_raising_tuner_fails_the_run_and_restores(lab: Lab) -> None:
    code = run_case(lab, "tuner-raises", None, 0.0, "tuner-raises")
    assert code == 1 and mlflow_state(lab, "tuner-raises")[0] == "FAILED"


def test_sys_exit_0_from_a_target_is_not_success(lab: Lab) -> None:
    code = run_case(lab, "target-exits", None, 0.0, "target-exits")
    status, steps = mlflow_state(lab, "target-exits")
    assert code == 1 and status == "FAILED" and steps == {0, 1}
