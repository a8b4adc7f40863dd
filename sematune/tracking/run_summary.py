"""A run's headline numbers (``summary.json``, and ``summary.*`` tags on its MLflow run)."""

from __future__ import annotations

from typing import Any

from sematune.engine import guards
from sematune.engine.scoring import Objective
from sematune.engine.session import RunOutcome


def run_summary(outcome: RunOutcome, objective: Objective) -> dict[str, Any]:
    """Status, window counts, baseline/best/stable numbers, restore result and the chosen configuration."""
    engine = outcome.engine
    records = engine.records if engine else []
    best = engine.best() if engine else None
    baseline = next((r for r in records if r.phase == "baseline" and r.objective is not None), None)
    stable = [r.objective for r in records if r.phase == "stable" and r.status == "ok" and r.objective is not None
              and getattr(r, "arm", None) != "defaults"]
    report = outcome.restore_report
    out: dict[str, Any] = {
        "status": outcome.status,
        "windows": len(records),
        "failed_windows": sum(r.status == "failed" for r in records),
        "idle_windows": sum(r.status == "idle" for r in records),
        "objective_metric": objective.metric,
        "goal": objective.goal,
        "baseline_objective": baseline.objective if baseline else None,
        "best_objective": best.objective if best else None,
        "best_window": best.window if best else None,
        "stable_mean_objective": sum(stable) / len(stable) if stable else None,
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
        out["frozen_diff"] = {k: {"default": engine.defaults.get(k), "chosen": v}
                              for k, v in engine.frozen.items() if engine.defaults.get(k) != v}
    elif best is not None:
        out["best_configuration"] = best.applied
    return out
