"""The window loop: phases, validation records, failures, constraints, history vs MLflow."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from sematune.components import build_components
from sematune.engine.loop import Engine
from sematune.engine.loop_settings import LoopSettings, auto_foreign_cpu_limit
from sematune.engine.records import HistoryWriter, read_history
from sematune.engine.scoring import Constraint, Objective, score
from sematune.engine.session import RunSession
from sematune.errors import TargetError
from sematune.targets.base import BenchmarkMetrics
from sematune.tuners.base import TunerResponse


def components(compose, sandbox: Path, *overrides: str):
    cfg = compose(f"host_root={sandbox}", "target=synthetic", "target.window_time_scale=0", "probes=false",
                  "loop.settle_seconds=0", "tracking.enabled=false", *overrides)
    return build_components(cfg)


def engine_for(c, tmp_path: Path, **loop: Any) -> Engine:
    settings = LoopSettings(**{"tuning_windows": 4, "stable_windows": 2, "settle_seconds": 0, **loop})
    inner = getattr(c.target, "inner", c.target)
    inner.results_dir = tmp_path / "target"
    inner.space = c.space
    return Engine(space=c.space, target=c.target, tuner=c.tuner, objective=c.objective, settings=settings,
                  history=HistoryWriter(tmp_path / "history.jsonl"))


def test_phases_arms_and_window_numbers(compose, sandbox: Path, tmp_path: Path) -> None:
    c = components(compose, sandbox, "tuner=random", "loop.baseline_every=2")
    settings = dict(baseline_every=2, confirm_candidates=2, confirm_repeats=2, stable_windows=4,
                    stable_defaults_every=2)
    records = engine_for(c, tmp_path, **settings).run()
    assert [r.phase for r in records] == ["baseline", "tuning", "tuning", "baseline", "tuning", "tuning",
                                          *["confirm"] * 6, *["stable"] * 4]
    # counterbalanced: each round / block holds one default window, first and last in turn
    assert [r.arm for r in records] == [None] * 6 + ["defaults", "candidate-1", "candidate-2", "candidate-2",
                                                     "candidate-1", "defaults", "frozen", "defaults", "defaults",
                                                     "frozen"]
    assert [r.block for r in records] == [None] * 6 + [0, 0, 0, 1, 1, 1, 0, 0, 1, 1]
    n = LoopSettings(tuning_windows=4, settle_seconds=0, **settings).planned_windows()
    assert [r.window for r in records] == list(range(n)) == list(range(16))
    defaults = records[0].applied
    assert records[3].applied == defaults  # interleaved baselines run at host defaults
    assert all(r.applied == defaults for r in records if r.arm == "defaults")
    assert records[6 + 1].applied == records[9 + 1].applied != defaults  # a candidate, measured twice
    assert records[12].applied == records[14].applied
    assert all(r.status == "ok" and r.reward == r.objective for r in records)
    assert [r.window for r in read_history(tmp_path / "history.jsonl")] == list(range(16))
    assert [o.window for o in c.tuner.history] == list(range(6))  # tuners learn from baseline and tuning only


class ScriptedTuner:
    """Wraps a tuner and replaces its proposals with a fixed script."""

    def __init__(self, inner, script: list[dict[str, Any]]) -> None:
        self.inner, self.script, self.history = inner, list(script), inner.history

    def suggest_parameters(self, *args: Any, **kwargs: Any) -> TunerResponse:
        return TunerResponse(parameters=self.script.pop(0), justification="scripted")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_unknown_names_rejected_out_of_domain_clipped_and_recorded(compose, sandbox: Path, tmp_path: Path) -> None:
    c = components(compose, sandbox, "tuner=fixed")
    c.tuner = ScriptedTuner(c.tuner, [
        {"vm_dirty_ratio": 500, "nope": 1, "vm_thp_enabled": "sometimes"},
        {"vm_dirty_ratio": "12"},
    ])
    records = engine_for(c, tmp_path, tuning_windows=2, stable_windows=0).run()
    first = records[1]
    assert first.rejected["nope"] == "unknown knob"
    assert "not one of" in first.rejected["vm_thp_enabled"]
    assert first.clipped == {"vm_dirty_ratio": [500, 80]}
    assert first.applied["vm_dirty_ratio"] == 80 and first.requested["vm_dirty_ratio"] == 80
    assert records[2].applied["vm_dirty_ratio"] == 12
    assert "nope" not in first.applied


class FailingWindows:
    """A target whose windows fail (exception or missing metric) on chosen windows."""

    default_objective = ("throughput", "maximize")

    def __init__(self, inner, fail: dict[int, str]) -> None:
        self.inner, self.fail = inner, fail

    def execute_window(self, window: int, duration: float) -> BenchmarkMetrics:
        mode = self.fail.get(window)
        if mode == "raise":
            raise RuntimeError("benchmark crashed")
        if mode == "target_error":
            raise TargetError("server went away")
        if mode == "missing":
            return BenchmarkMetrics(latency_avg=1.0)
        return self.inner.execute_window(window, duration)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_failed_and_metricless_windows_are_failed_never_zero(compose, sandbox: Path, tmp_path: Path) -> None:
    c = components(compose, sandbox, "tuner=random")
    c.target = FailingWindows(c.target, {1: "raise", 2: "missing", 4: "target_error"})
    records = engine_for(c, tmp_path).run()
    failed = {r.window: r for r in records if r.status == "failed"}
    assert set(failed) == {1, 2, 4}
    assert "benchmark crashed" in failed[1].error and "server went away" in failed[4].error
    assert "objective metric 'throughput' missing" in failed[2].error
    assert all(r.objective is None and r.reward is None for r in failed.values())
    observed = {o.window: o.reward for o in c.tuner.history}
    assert observed[1] is None and observed[2] is None


def test_too_many_failures_in_a_row_abort(compose, sandbox: Path, tmp_path: Path) -> None:
    c = components(compose, sandbox, "tuner=random")
    c.target = FailingWindows(c.target, {1: "raise", 2: "raise", 3: "raise"})
    engine = engine_for(c, tmp_path, max_consecutive_failures=3)
    with pytest.raises(TargetError, match="3 windows in a row failed"):
        engine.run()
    assert [r.window for r in read_history(tmp_path / "history.jsonl")] == [0, 1, 2, 3]


def test_scoring_goals_and_constraints() -> None:
    m = BenchmarkMetrics(throughput=100.0, latency_avg=5.0, extra_metrics={"latency_p99": 30.0})
    assert score(m, Objective(metric="throughput")).reward == 100.0
    assert score(m, Objective(metric="latency_avg", goal="minimize")).reward == -5.0
    upper = score(m, Objective(metric="throughput"), Constraint(metric="latency_p99", bound=20.0))
    assert not upper.feasible and upper.constraint_violation == 10.0 and upper.reward == 100.0
    penalised = score(m, Objective(metric="throughput"), Constraint(metric="latency_p99", bound=20.0, penalty=1.0))
    assert penalised.reward == pytest.approx(100.0 - 100.0 * 0.5)
    lower = score(m, Objective(metric="latency_avg", goal="minimize"),
                  Constraint(metric="throughput", bound=50.0, direction="lower"))
    assert lower.feasible and lower.constraint_violation == 0.0
    missing = score(m, Objective(metric="tpmC"))
    assert missing.objective is None and missing.reward is None and "tpmC" in missing.error


def test_best_prefers_feasible_windows(compose, sandbox: Path, tmp_path: Path) -> None:
    c = components(compose, sandbox, "tuner=random")
    engine = engine_for(c, tmp_path, stable_windows=0)
    engine.constraint = Constraint(metric="latency_avg", bound=8.0)  # ms; feasible iff throughput >= 1000
    records = engine.run()
    best = engine.best()
    feasible = [r for r in records if r.feasible]
    assert feasible, "the baseline (≈1500/s, 5.3 ms) is feasible under an 8 ms bound"
    assert best.feasible and best.reward == max(r.reward for r in feasible)
    assert all(r.constraint_violation is not None for r in records)


def test_fixed_tuner_confirms_its_values_against_the_defaults(compose, sandbox: Path, tmp_path: Path) -> None:
    c = components(compose, sandbox, "tuner=fixed", "+tuner.parameters={vm_dirty_ratio: 15}")
    engine = engine_for(c, tmp_path, confirm_repeats=2)
    records = engine.run()
    assert all(r.applied["vm_dirty_ratio"] == 15 for r in records if r.phase == "tuning" or r.arm == "candidate-1")
    assert [r.arm for r in records if r.phase == "confirm"] == ["defaults", "candidate-1", "candidate-1", "defaults"]
    assert engine.decision.candidates[0]["source"] == "tuner's best_parameters()"


def test_session_history_matches_mlflow_window_by_window(compose, sandbox: Path, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    from sematune.tracking.mlflow_tracker import MlflowTracker
    from sematune.tracking.recorder import RunRecorder

    c = components(compose, sandbox, "tuner=random")
    c.state_dir = str(tmp_path / "state")
    recorder = RunRecorder(c, tmp_path / "run", run_name="r", params={"a": 1}, tags={"target": "synthetic"},
                           resolved_config="{}",
                           tracker_factory=lambda: MlflowTracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "t"))
    session = RunSession(c, tmp_path / "run", recorder, run_name="r")
    assert session.run() == 0
    tracker = recorder.tracker
    history = read_history(tmp_path / "run" / "history.jsonl")
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.get_run(tracker.run_id)
    assert run.info.status == "FINISHED"
    objective = {m.step: m.value for m in client.get_metric_history(tracker.run_id, "objective")}
    phases = {m.step: m.value for m in client.get_metric_history(tracker.run_id, "phase")}
    knob = {m.step: m.value for m in client.get_metric_history(tracker.run_id, "knob/vm_dirty_ratio")}
    assert len(history) == c.settings.loop.planned_windows() == 1 + 30 + 7 * 3 + 20
    for r in history:
        assert objective[r.window] == pytest.approx(r.objective)
        assert phases[r.window] == {"baseline": 0, "tuning": 1, "stable": 2, "confirm": 3}[r.phase]
        assert knob[r.window] == r.applied["vm_dirty_ratio"]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    verdict = summary["verdict"]
    assert verdict["n_stable"] == 14 and verdict["n_defaults"] == 6 and verdict["frozen"] in ("tuned", "defaults")
    assert verdict["ci_low"] <= verdict["gain"] <= verdict["ci_high"] and verdict["noise_cv"] > 0
    assert summary["best_tuning_window"] in {r.window for r in history if r.phase == "tuning"}
    frozen_diff = {k: {"default": v, "chosen": session.engine.frozen[k]} for k, v in session.engine.defaults.items()
                   if session.engine.frozen[k] != v}
    assert summary["frozen_diff"] == frozen_diff and (verdict["frozen"] == "tuned") == bool(frozen_diff)
    assert run.data.metrics["verdict/gain"] == pytest.approx(verdict["gain"])
    assert run.data.metrics["verdict/ci_low"] == pytest.approx(verdict["ci_low"])
    assert run.data.metrics["verdict/noise_cv"] == pytest.approx(verdict["noise_cv"])
    assert run.data.tags["verdict.frozen"] == verdict["frozen"] and run.data.tags["verdict.reason"] == verdict["reason"]
    assert json.loads(run.data.tags["verdict.frozen_diff"]) == json.loads(json.dumps(frozen_diff))
    assert run.data.tags["summary.best_tuning_window"] == str(summary["best_tuning_window"])
    artifacts = {a.path for a in client.list_artifacts(tracker.run_id)}
    assert {"history.jsonl", "windows.csv", "config_resolved.yaml", "restoration_report.json",
            "host_state_before.json", "host_state_after.json", "objective_per_window.png"} <= artifacts
    report = json.loads((tmp_path / "run" / "restoration_report.json").read_text())
    assert report["verify_status"] == "PASS"
    assert json.loads((tmp_path / "run" / "host_state_before.json").read_text()) == json.loads(
        (tmp_path / "run" / "host_state_after.json").read_text())


class NoisyNeighbour:
    """A probe that reports heavy foreign CPU on the first ``busy`` measurements."""

    def __init__(self, busy: int) -> None:
        self.busy, self.calls = busy, 0

    def start(self, pids) -> None:
        self.calls += 1

    def stop(self) -> dict[str, float]:
        return {"foreign_cpu_s": 10.0 if self.calls <= self.busy else 0.0}


@pytest.mark.parametrize("busy, status, attempts", [(1, "ok", 2), (10, "contaminated", 3)])
def test_contaminated_windows_are_remeasured_bounded(compose, sandbox: Path, tmp_path: Path, busy: int,
                                                      status: str, attempts: int) -> None:
    c = components(compose, sandbox, "tuner=random")
    engine = engine_for(c, tmp_path, tuning_windows=1, stable_windows=0, foreign_cpu_limit=0.2, max_remeasure=2,
                        window_seconds=1.0)
    engine.probes = [NoisyNeighbour(busy)]
    first = engine.run()[0]
    assert first.status == status and first.attempts == attempts
    if status == "contaminated":
        assert "other processes used" in first.error and first.objective is not None
    # every attempt keeps its raw output: windows/0000, windows/0000.2, …
    kept = sorted(p.name for p in (tmp_path / "target" / "windows").iterdir() if p.name.startswith("0000"))
    assert kept == ["0000"] + [f"0000.{k}" for k in range(2, attempts + 1)]
    assert all((tmp_path / "target" / "windows" / name / "synthetic.json").is_file() for name in kept)


def test_foreign_cpu_limit_is_on_by_default_and_sized_for_the_host(compose, sandbox: Path, tmp_path: Path) -> None:
    c = components(compose, sandbox, "tuner=random")
    assert c.settings.loop.foreign_cpu_limit == "auto"
    engine = engine_for(c, tmp_path)
    cpus = len(os.sched_getaffinity(0))
    assert engine.foreign_cpu_limit == auto_foreign_cpu_limit(cpus) == max(1 / cpus, 0.25)
    assert engine_for(c, tmp_path, foreign_cpu_limit=None).foreign_cpu_limit is None


@pytest.fixture
def busy_neighbours():
    """Two detached busy loops (not in the engine's process tree: foreign CPU), killed afterwards."""
    import subprocess
    import sys

    import psutil

    script = ("import os, time\n"
              "if os.fork(): os._exit(0)\n"
              "os.setsid(); print(os.getpid(), flush=True)\n"
              "null = os.open(os.devnull, os.O_RDWR); os.dup2(null, 1); os.dup2(null, 2)\n"
              "end = time.monotonic() + 120\n"
              "while time.monotonic() < end: pass\n")
    procs = [psutil.Process(int(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                                 check=True).stdout.split()[0])) for _ in range(2)]
    yield procs
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            pass


@pytest.mark.parametrize("limit, status, attempts", [(0.5, "contaminated", 3), (None, "ok", 1)])
def test_real_foreign_load_triggers_the_remeasure_path(compose, sandbox: Path, tmp_path: Path, busy_neighbours,
                                                       limit, status: str, attempts: int) -> None:
    """The real CPU probe sees two busy processes outside the run's tree (≥ 50% of this host's CPUs)."""
    from sematune.targets.probes import ProcessCpuProbe

    c = build_components(compose(f"host_root={sandbox}", "target=synthetic", "target.window_time_scale=1",
                                 "probes=false", "tuner=random", "tracking.enabled=false"))
    engine = engine_for(c, tmp_path, tuning_windows=1, stable_windows=0, foreign_cpu_limit=limit, max_remeasure=2,
                        window_seconds=1.0)
    engine.probes = [ProcessCpuProbe()]
    before = sum(p.cpu_times().user + p.cpu_times().system for p in busy_neighbours)
    first = engine.run()[0]
    used = sum(p.cpu_times().user + p.cpu_times().system for p in busy_neighbours) - before
    assert used >= 0.5 * attempts  # the neighbours really ran during the measurements
    assert first.status == status and first.attempts == attempts, first.error
    assert first.metrics.system["foreign_cpu_s"] >= 0.5  # this attempt's share of the neighbours' CPU
    assert ("other processes used" in (first.error or "")) == (status == "contaminated")
