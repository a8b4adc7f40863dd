"""Fault matrix: SIGINT, SIGTERM and SIGKILL at seeded random points of a run, plus component faults.

Each case forks a child that runs a real session (synthetic target, random tuner, MLflow on
SQLite, a sandbox tree, short windows) and hits it at a seeded random moment — in preparation,
an apply, a window, a tuner call, the restore or the MLflow close. Afterwards (and after
``python -m sematune.restore`` for SIGKILL): the tree is byte-identical, no journal is left,
every window MLflow saw is in the history, MLflow does not say RUNNING, and the exit code does
not claim success for a run that did not finish.
"""

from __future__ import annotations

import functools
import os
import random
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from sematune.components import build_components
from sematune.engine.records import read_history
from sematune.engine.session import RunSession
from sematune.restore import main as restore_main
from sematune.tracking.mlflow_tracker import MlflowTracker
from tests.safety._helpers import snapshot

POINTS_PER_SIGNAL = 20
#: 1 baseline + 4 tuning + 2 stable windows.
WINDOWS = 7
LONGEST_S = 3.0


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, host_snapshot: Path):
    import shutil

    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401  (imported once, before the forks)
    import mlflow.tracking  # noqa: F401

    work = tmp_path_factory.mktemp("faults")
    tree = work / "host"
    shutil.copytree(host_snapshot, tree, symlinks=True)
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="sematune.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            "experiment=quick", "target=synthetic", "tuner=random", "probes=false", f"host_root={tree}",
            f"host.state_dir={work / 'state'}", "loop.tuning_windows=4", "loop.stable_windows=2",
            "loop.window_seconds=0.15", "loop.settle_seconds=0"])
    GlobalHydra.instance().clear()
    return {"work": work, "tree": tree, "cfg": cfg, "before": snapshot(tree), "uri": f"sqlite:///{work / 'mlflow.db'}"}


def _child(lab: dict, name: str, fault: str) -> None:
    """Runs in the forked child; never returns."""
    code = 99
    try:
        log = os.open(lab["work"] / f"{name}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        components = build_components(lab["cfg"])
        if fault == "tuner-raises":
            def broken(*args: object, **kwargs: object) -> object:
                raise RuntimeError("tuner exploded")
            components.tuner.suggest_parameters = broken  # type: ignore[method-assign]
        elif fault == "target-exits":
            real = components.target.execute_window

            def exiting(window: int, duration: float):  # type: ignore[no-untyped-def]
                if window == 2:
                    sys.exit(0)
                return real(window, duration)
            components.target.execute_window = exiting  # type: ignore[method-assign]
        session = RunSession(components, lab["work"] / name, run_name=name, params={"case": name}, tags={},
                             resolved_config="case: fault\n",
                             tracker_factory=functools.partial(MlflowTracker, lab["uri"], "faults",
                                                               async_logging=False))
        code = session.run()
    finally:
        os._exit(code)


def _mlflow(lab: dict, name: str) -> tuple[str | None, set[int]]:
    db = lab["work"] / "mlflow.db"
    if not db.exists():
        return None, set()
    conn = sqlite3.connect(db)  # closed at once: an open read cursor would block the next child's writes
    try:
        rows = conn.execute("select run_uuid, status from runs where name = ?", (name,)).fetchall()
        if not rows:
            return None, set()
        steps = {s for (s,) in conn.execute("select distinct step from metrics where run_uuid = ? and key = 'phase'",
                                            (rows[0][0],)).fetchall()}
    finally:
        conn.close()
    return rows[0][1], steps


def _check(lab: dict, name: str, code: int, finished_first: bool, killed: bool) -> None:
    state = lab["work"] / "state"
    if killed:
        assert restore_main(["--host-root", str(lab["tree"]), "--state-dir", str(state),
                             "--tracking-uri", lab["uri"]]) == 0
    assert snapshot(lab["tree"]) == lab["before"], name
    assert not (state / "journal.json").exists()
    history = lab["work"] / name / "history.jsonl"
    windows = [r.window for r in read_history(history)] if history.exists() else []
    assert windows == list(range(len(windows))), windows
    status, steps = _mlflow(lab, name)
    assert steps <= set(windows), (steps, windows)
    assert status != "RUNNING", (name, status)
    if status == "FINISHED":
        assert len(windows) == WINDOWS
    if not finished_first:
        assert code != 0 or status == "FINISHED", (name, code, status)


def _run_case(lab: dict, name: str, sig: int | None, delay: float, fault: str = "") -> int:
    pid = os.fork()
    if pid == 0:
        _child(lab, name, fault)
    time.sleep(delay)
    done, status = os.waitpid(pid, os.WNOHANG)
    finished_first = done != 0
    if not finished_first and sig is not None:
        os.kill(pid, sig)
    if not finished_first:
        _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    _check(lab, name, code, finished_first, killed=sig == signal.SIGKILL)
    return code


def test_an_undisturbed_run_finishes(lab: dict) -> None:
    assert _run_case(lab, "plain", None, 0.0) == 0
    assert _mlflow(lab, "plain")[0] == "FINISHED"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_signal_at_random_points(lab: dict, sig: signal.Signals) -> None:
    rng = random.Random(f"sematune-faults-{sig.name}")
    for point in range(POINTS_PER_SIGNAL):
        _run_case(lab, f"{sig.name}-{point}", sig, rng.uniform(0.0, LONGEST_S))


def test_a_raising_tuner_fails_the_run_and_restores(lab: dict) -> None:
    code = _run_case(lab, "tuner-raises", None, 0.0, "tuner-raises")
    assert code == 1 and _mlflow(lab, "tuner-raises")[0] == "FAILED"


def test_sys_exit_0_from_a_target_is_not_success(lab: dict) -> None:
    code = _run_case(lab, "target-exits", None, 0.0, "target-exits")
    status, steps = _mlflow(lab, "target-exits")
    assert code == 1 and status == "FAILED" and steps == {0, 1}
