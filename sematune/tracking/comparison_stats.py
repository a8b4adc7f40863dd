"""The comparison report's statistics: run scores, relative scores, bootstrap CIs, robustness, geo-means."""

from __future__ import annotations

import math
import zlib
from statistics import mean, stdev
from typing import Optional, Sequence

import numpy as np

from sematune.engine.records import WindowRecord
from sematune.tracking.comparison_model import GeoMean, JobRun, Robustness, SweepReport, TokenTotals


# -- per-run numbers ------------------------------------------------------------------------
def scored(record: WindowRecord) -> bool:
    return record.status == "ok" and record.objective is not None and math.isfinite(record.objective)


def run_score(run: JobRun) -> Optional[float]:
    """Mean objective of the run's ok stable-phase windows of the frozen configuration (the default
    windows interleaved with them are not the tuner's score); ``None`` without any."""
    values = [r.objective for r in run.records
              if r.phase == "stable" and getattr(r, "arm", None) != "defaults" and scored(r)]
    return mean(values) if values else None  # type: ignore[arg-type]


def run_tokens(run: JobRun) -> Optional[TokenTotals]:
    """The run's token use: its recorded model-call totals (freeze and gist included), else the sum over
    its windows (``None`` when no window logged any)."""
    calls = run.model_calls
    if calls:
        return TokenTotals(input=int(calls.get("input_tokens", 0)), output=int(calls.get("output_tokens", 0)),
                           thinking=int(calls.get("thinking_tokens", 0)), cost_usd=float(calls.get("cost_usd", 0.0)),
                           runs=1)
    usages = [r.tuner.token_usage for r in run.records if r.tuner.token_usage is not None]
    if not usages:
        return None
    return TokenTotals(
        input=sum(u.input_tokens for u in usages),
        output=sum(u.output_tokens for u in usages),
        thinking=sum(u.thinking_tokens for u in usages),
        cost_usd=sum(u.cost_usd for u in usages),
        runs=1,
    )


def add_tokens(totals: Optional[TokenTotals], more: Optional[TokenTotals]) -> Optional[TokenTotals]:
    if more is None:
        return totals
    if totals is None:
        return more.model_copy()
    return TokenTotals(
        input=totals.input + more.input,
        output=totals.output + more.output,
        thinking=totals.thinking + more.thinking,
        cost_usd=totals.cost_usd + more.cost_usd,
        runs=totals.runs + more.runs,
    )


def relative(value: Optional[float], reference: Optional[float], goal: Optional[str]) -> Optional[float]:
    """``value`` against ``reference``, > 1 when better (direction-aware); ``None`` if undefined."""
    if value is None or reference is None or value <= 0 or reference <= 0:
        return None
    return reference / value if goal == "minimize" else value / reference


def worse(value: float, reference: float, goal: Optional[str], threshold: float) -> bool:
    if goal == "minimize":
        return value > reference * (1.0 + threshold)
    return value < reference * (1.0 - threshold)


def bootstrap(
    arm_scores: Sequence[float], base_scores: Sequence[float], goal: Optional[str], n_boot: int,
    rng: np.random.Generator,
) -> Optional[np.ndarray]:
    """Replicates of r (resampling seeds on both sides); ``None`` when a side has < 2 runs."""
    if len(arm_scores) < 2 or len(base_scores) < 2 or n_boot <= 0:
        return None
    a = np.asarray(arm_scores, dtype=float)
    b = np.asarray(base_scores, dtype=float)
    a_means = a[rng.integers(0, len(a), size=(n_boot, len(a)))].mean(axis=1)
    b_means = b[rng.integers(0, len(b), size=(n_boot, len(b)))].mean(axis=1)
    if np.any(a_means <= 0) or np.any(b_means <= 0):
        return None
    return b_means / a_means if goal == "minimize" else a_means / b_means


def seeded_rng(seed: int, target: str, arm: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(target.encode()), zlib.crc32(arm.encode())])


def ci(replicates: Optional[np.ndarray], confidence: float) -> tuple[Optional[float], Optional[float]]:
    if replicates is None:
        return None, None
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(replicates, [tail, 100.0 - tail])
    return float(low), float(high)


def robustness(runs: Sequence[JobRun], baseline: Optional[float], goal: Optional[str], threshold: float) -> Robustness:
    out = Robustness(reference=baseline, reference_source="baseline" if baseline is not None else None)
    rels: list[float] = []
    for run in runs:
        reference = baseline
        if reference is None:
            own = [r.objective for r in run.records if r.phase == "baseline" and scored(r)]
            reference = mean(own) if own else None  # type: ignore[arg-type]
            if reference is not None:
                out.reference_source = "own baseline window"
        for r in run.records:
            if r.phase != "tuning":
                continue
            out.tuning_windows += 1
            if r.status == "failed":
                out.failed += 1
            if not scored(r) or reference is None:
                continue
            assert r.objective is not None
            out.scored += 1
            out.worse += worse(r.objective, reference, goal, threshold)
            rel = relative(r.objective, reference, goal)
            if rel is not None:
                rels.append(rel)
    if out.scored:
        out.worse_share = out.worse / out.scored
    if out.tuning_windows:
        out.failed_share = out.failed / out.tuning_windows
    if len(rels) >= 2:
        out.spread = stdev(rels)
    if rels:
        out.worst = min(rels)
    return out


def geomean(arm: str, report: SweepReport, replicates: dict[tuple[str, str], Optional[np.ndarray]],
             confidence: float) -> GeoMean:
    out = GeoMean(arm=arm)
    logs, reps = [], []
    for info in report.targets:
        cell = report.cell(info.target, arm)
        if cell is None or cell.relative is None:
            out.missing_targets.append(info.target)
            continue
        out.targets.append(info.target)
        logs.append(math.log(cell.relative))
        reps.append(replicates.get((info.target, arm)))
    if logs:
        out.relative = math.exp(mean(logs))
        if all(r is not None for r in reps):
            combined = np.exp(np.mean(np.log(np.vstack(reps)), axis=0))  # type: ignore[arg-type]
            out.ci_low, out.ci_high = ci(combined, confidence)
    return out
