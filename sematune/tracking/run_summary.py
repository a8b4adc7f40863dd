"""A run's headline numbers (``summary.json``, and ``summary.*`` tags on its MLflow run)."""

from __future__ import annotations

from typing import Any

from sematune.engine import guards
from sematune.engine.decision import config_diff
from sematune.engine.scoring import Objective
from sematune.engine.session import RunOutcome


def run_summary(outcome: RunOutcome, objective: Objective) -> dict[str, Any]:
    """Status, window counts, baseline/best/stable numbers, restore result and the chosen configuration."""
    engine = outcome.engine
    records = engine.records if engine else []
    best = engine.best() if engine else None
    best_tuning = engine.best_tuning() if engine else None
    verdict = engine.verdict() if engine else None
    baseline = next((r for r in records if r.phase == "baseline" and r.objective is not None), None)
    report = outcome.restore_report
    out: dict[str, Any] = {
        "status": outcome.status,
        "windows": len(records),
        "failed_windows": sum(r.status == "failed" for r in records),
        "idle_windows": sum(r.status == "idle" for r in records),
        "contaminated_windows": sum(r.status == "contaminated" for r in records),
        "objective_metric": objective.metric,
        "goal": objective.goal,
        "baseline_objective": baseline.objective if baseline else None,
        "best_objective": best.objective if best else None,
        "best_window": best.window if best else None,
        "best_tuning_objective": best_tuning.objective if best_tuning else None,
        "best_tuning_window": best_tuning.window if best_tuning else None,
        "stable_mean_objective": verdict["stable_mean"] if verdict else None,
        "restore": "n/a" if report is None else ("PASS" if report.ok else "FAIL"),
    }
    if report is not None:
        out["restore_files"] = f"{report.restored_count}/{report.control_count}"
    if engine and engine.guard_stop:
        out["guard_stop"] = engine.guard_stop
    if engine and engine.settings.dry_run_windows:
        out["aa_noise"] = guards.aa_noise(records)
    if engine and engine.frozen:
        out["best_configuration"] = engine.frozen
        out["frozen_diff"] = config_diff(engine.frozen, engine.defaults)
    elif best is not None:
        out["best_configuration"] = best.applied
        out["frozen_diff"] = {}
    out["verdict"] = verdict
    if engine and engine.decision is not None:
        out["confirmation"] = engine.decision.candidates
    return out
