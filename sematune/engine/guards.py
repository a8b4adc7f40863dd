"""Guard rails for tuning a service under real traffic (all off by default).

- ``loop.min_traffic``: a window whose traffic metric is below ``min`` (or missing) is *idle*:
  re-measured (up to ``loop.max_remeasure``), then recorded with status ``idle`` and not scored.
- ``loop.max_regression``: a tuning window whose objective is worse than the mean of the default
  (baseline) windows by more than this fraction stops the exploration; the engine puts the
  defaults back and ends the run.
- ``loop.dry_run_windows``: observe and score the current configuration for N windows only (no
  tuner, no knob write); the summary then carries the A/A noise of those windows.
"""

from __future__ import annotations

import statistics
from typing import Any, Optional, Sequence

from pydantic import BaseModel, ConfigDict, Field

from sematune.engine.records import WindowRecord
from sematune.engine.scoring import Objective
from sematune.targets.base import BenchmarkMetrics

#: Start of the note of a window that saw too little traffic (its status becomes ``idle``).
IDLE = "idle:"


class MinTraffic(BaseModel):
    """``loop.min_traffic``: the metric that measures traffic and the least a scored window needs."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(description="e.g. throughput or service/requests_per_s")
    min: float = Field(ge=0, description="windows below this are idle")


def idle_note(metrics: BenchmarkMetrics, rule: Optional[MinTraffic]) -> Optional[str]:
    """Why the window is idle, or None when it carried enough traffic (or no rule is set)."""
    if rule is None:
        return None
    value = metrics.get(rule.metric)
    if value is None:
        return f"{IDLE} traffic metric {rule.metric!r} missing (no traffic observed)"
    if value < rule.min:
        return f"{IDLE} {rule.metric}={value:.4g} below loop.min_traffic.min={rule.min:g}"
    return None


def _defaults_objectives(records: Sequence[WindowRecord]) -> list[float]:
    return [r.objective for r in records if r.phase == "baseline" and r.status == "ok" and r.objective is not None]


def regression_note(records: Sequence[WindowRecord], objective: Objective, bound: Optional[float]) -> Optional[str]:
    """Why the last tuning window breaches ``loop.max_regression``, or None."""
    if bound is None or not records:
        return None
    last = records[-1]
    defaults = _defaults_objectives(records)
    if last.phase != "tuning" or last.status != "ok" or last.objective is None or not defaults:
        return None
    reference = statistics.fmean(defaults)
    if reference == 0:
        return None
    change = (last.objective - reference) / abs(reference)
    worse = -change if objective.goal == "maximize" else change
    if worse <= bound:
        return None
    return (f"window {last.window}: {objective.metric}={last.objective:.4g} is {worse:.0%} worse than the "
            f"defaults' mean {reference:.4g} (loop.max_regression={bound:g}); stopped exploring, defaults restored")


def aa_noise(records: Sequence[WindowRecord]) -> dict[str, Any]:
    """Spread of the scored default windows' objective: ``n``, ``mean``, ``stdev``, ``cv``."""
    values = _defaults_objectives(records)
    out: dict[str, Any] = {"n": len(values), "mean": statistics.fmean(values) if values else None,
                           "stdev": None, "cv": None}
    if len(values) >= 2:
        out["stdev"] = statistics.stdev(values)
        out["cv"] = out["stdev"] / abs(out["mean"]) if out["mean"] else None
    return out
