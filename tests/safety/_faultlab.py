"""The fault matrix's machinery: a forked run hit at a chosen moment, and what must hold afterwards.

A *lab* is one composed config, the host it acts on (a sandbox tree, or the real host's knob
files), a state dir and an MLflow SQLite store. :func:`run_case` forks a child that runs a real
session (recorded like the CLI's), sends it a signal after a delay, and checks: the host is
byte-identical (after ``python -m sematune.restore`` for SIGKILL), no journal is left, every
window MLflow saw is in the history, MLflow does not say RUNNING, and the exit code does not
claim success for a run that did not finish.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from sematune.components import build_components
from sematune.engine.records import read_history
from sematune.restore import main as restore_main
from tests.safety._helpers import recorded_session, snapshot


@dataclass
class Lab:
    work: Path
    cfg: Any
    tree: Optional[Path] = None  # None: the real host
    files: tuple[str, ...] = ()  # on the real host: the knob files to compare byte for byte
    before: dict[str, bytes] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        return f"sqlite:///{self.work / 'mlflow.db'}"

    def host_bytes(self) -> dict[str, bytes]:
        return snapshot(self.tree) if self.tree is not None else {f: Path(f).read_bytes() for f in self.files}


def make_lab(work: Path, overrides: list[str], tree: Optional[Path] = None,
             files: tuple[str, ...] = ()) -> Lab:
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401  (imported once, before the forks)
    import mlflow.tracking  # noqa: F401

    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="sematune.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            *overrides, *([f"host_root={tree}"] if tree else []), f"host.state_dir={work / 'state'}"])
    GlobalHydra.instance().clear()
    lab = Lab(work, cfg, tree, files)
    lab.before = lab.host_bytes()
    return lab


def _child(lab: Lab, name: str, fault: str) -> None:
    """Runs in the forked child; never returns."""
    code = 99
    try:
        log = os.open(lab.work / f"{name}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        components = build_components(lab.cfg)
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
        code = recorded_session(components, lab.work / name, name, lab.uri).run()
    finally:
        os._exit(code)


def mlflow_state(lab: Lab, name: str) -> tuple[Optional[str], set[int]]:
    """The MLflow run's status and the windows (steps) it holds."""
    db = lab.work / "mlflow.db"
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


def _check(lab: Lab, name: str, code: int, finished_first: bool, killed: bool) -> None:
    state = lab.work / "state"
    if killed:
        where = ["--host-root", str(lab.tree)] if lab.tree is not None else []
        assert restore_main([*where, "--state-dir", str(state), "--tracking-uri", lab.uri]) == 0
    assert lab.host_bytes() == lab.before, name
    assert not (state / "journal.json").exists()
    history = lab.work / name / "history.jsonl"
    records = read_history(history) if history.exists() else []
    windows = [r.window for r in records]
    assert windows == list(range(len(windows))), windows
    status, steps = mlflow_state(lab, name)
    assert steps <= set(windows), (steps, windows)
    if status == "RUNNING" and not killed:
        # The run could not close its MLflow run (a SQLite store busy under load: "database is
        # locked"); its marker must name it, so the recovery a user runs marks it KILLED.
        assert (state / "open_run.json").exists(), (name, status)
        where = ["--host-root", str(lab.tree)] if lab.tree is not None else []
        assert restore_main([*where, "--state-dir", str(state), "--tracking-uri", lab.uri]) == 0
        status, _ = mlflow_state(lab, name)
    assert status != "RUNNING", (name, status)
    if status == "FINISHED":  # every planned window is in the history
        phases = [r.phase for r in records]
        loop = lab.cfg.loop
        assert (phases.count("tuning"), phases.count("stable")) == (loop.tuning_windows, loop.stable_windows), phases
    if not finished_first:
        assert code != 0 or status == "FINISHED", (name, code, status)


def run_case(lab: Lab, name: str, sig: Optional[int], delay: float, fault: str = "") -> int:
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
