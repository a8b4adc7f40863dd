"""A sweep's comparison report, computed from its runs' window histories (pure, no I/O).

Method (also written into every report as ``method``):

* **run score**: the mean objective over a run's stable-phase windows of the frozen configuration
  with status ``ok`` (interleaved default windows excluded). A run
  counts only when it FINISHED and has such a window; others are listed as failed, missing or
  "no stable windows" — never as zeros.
* **baseline**: per target, the mean score of the runs of the baseline tuner (``fixed``).
* **relative score** r of an arm (a tuner, plus any other swept override): the mean of its run
  scores over the baseline for a maximised objective, the baseline over that mean for a
  minimised one — so r > 1 is better either way; improvement = r − 1.
* **95% CI**: percentile bootstrap over seeds. Each of B replicates resamples, with replacement,
  the arm's run scores and (independently) the baseline's run scores and recomputes r; the CI is
  the 2.5th–97.5th percentile of the replicates. The generator is seeded from (seed, target,
  arm), so rebuilding a report gives the same interval. Given when both sides have ≥ 2 runs.
* **geometric mean** across targets: exp(mean log r) over the targets where the arm has an r;
  its CI combines the per-target replicates replicate by replicate.
* **robustness**: the arm's tuning windows pooled over its counted runs. A scored window is
  *worse* when its objective is more than ``threshold`` (10%) worse than the reference: the
  target's baseline, or — without a baseline run — the run's own baseline-phase mean. Spread is
  the sample standard deviation of the per-window relative score (objective / reference,
  inverted when minimising); failed windows are counted apart.
* **verdict** (per run and per cell): the frozen configuration's stable windows against the
  default windows interleaved with them *in the same run* — gain in the goal's direction with a
  block-bootstrap CI over the interleaved blocks (see ``sematune.engine.verdict``); a cell pools
  the blocks of its counted runs. Unlike the relative score, it needs no ``fixed`` run and
  cancels run-to-run level shifts.
* **tokens**: every window's token usage summed over all runs of the arm that logged any, failed
  runs included (the spend was real).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from statistics import mean, median, stdev
from typing import Any, Iterable, Optional, Sequence

import numpy as np
from pydantic import BaseModel, Field

from sematune.engine.decision import DEFAULTS
from sematune.engine.records import WindowRecord
from sematune.engine.verdict import seed_for
from sematune.tracking.report_verdict import VerdictCell, verdict_of

#: Override keys that never change what a job measures (placement, bookkeeping).
IGNORED_KEYS = ("resume", "sweep_name", "tracking.", "hydra.", "host_root", "host.state_dir")
#: Swept override keys that make a different target rather than a different arm.
TARGET_KEYS = ("target.", "objective.", "constraint")
#: Override keys that the report groups by explicitly.
AXIS_KEYS = ("target", "tuner", "seed")
MAX_KNOBS = 12


def override_key(override: str) -> str:
    """``"+tuner.x=1"`` → ``"tuner.x"``."""
    return override.split("=", 1)[0].lstrip("+~")


def key_matches(key: str, prefixes: Iterable[str]) -> bool:
    """``key`` is one of ``prefixes`` or lies under one (``"tracking."`` matches ``tracking.uri``)."""
    return any(key == p or (p.endswith(".") and key.startswith(p)) or key.startswith(p + ".") for p in prefixes)


@dataclass
class JobRun:
    """One job of a sweep, as found (or not) in its run dir or MLflow run."""

    key: str
    overrides: tuple[str, ...] = ()
    status: str = "MISSING"
    target: Optional[str] = None
    tuner: Optional[str] = None
    seed: Optional[int] = None
    metric: Optional[str] = None
    goal: Optional[str] = None
    records: list[WindowRecord] = field(default_factory=list)
    run_id: Optional[str] = None
    run_dir: Optional[str] = None
    note: str = ""
    started: float = 0.0

    def override_map(self) -> dict[str, str]:
        return {override_key(o): o.split("=", 1)[1] if "=" in o else "" for o in self.overrides}


# -- report data ----------------------------------------------------------------------------
class TokenTotals(BaseModel):
    input: int = 0
    output: int = 0
    thinking: int = 0
    cost_usd: float = 0.0
    runs: int = 0


class Robustness(BaseModel):
    reference: Optional[float] = None
    reference_source: Optional[str] = None
    tuning_windows: int = 0
    scored: int = 0
    worse: int = 0
    failed: int = 0
    worse_share: Optional[float] = None
    failed_share: Optional[float] = None
    spread: Optional[float] = None
    worst: Optional[float] = None


class Cell(BaseModel):
    """One target × arm."""

    target: str
    arm: str
    tuner: str
    is_baseline: bool = False
    expected: int = 0
    counted: int = 0
    failed: int = 0
    missing: int = 0
    seeds: list[Optional[int]] = Field(default_factory=list)
    mean: Optional[float] = None
    relative: Optional[float] = None
    ci_low: Optional[float] = None
    ci_high: Optional[float] = None
    robustness: Robustness = Field(default_factory=Robustness)
    tokens: Optional[TokenTotals] = None
    verdict: VerdictCell = Field(default_factory=VerdictCell)


class TargetInfo(BaseModel):
    target: str
    metric: Optional[str] = None
    goal: Optional[str] = None
    baseline_arm: Optional[str] = None
    baseline: Optional[float] = None
    baseline_runs: int = 0


class GeoMean(BaseModel):
    arm: str
    relative: Optional[float] = None
    ci_low: Optional[float] = None
    ci_high: Optional[float] = None
    targets: list[str] = Field(default_factory=list)
    missing_targets: list[str] = Field(default_factory=list)


class RunRow(BaseModel):
    key: str
    target: str
    arm: str
    seed: Optional[int] = None
    status: str
    counted: bool = False
    score: Optional[float] = None
    relative: Optional[float] = None
    windows: int = 0
    run_id: Optional[str] = None
    run_dir: Optional[str] = None
    overrides: list[str] = Field(default_factory=list)
    note: str = ""
    tokens: Optional[TokenTotals] = None
    verdict: VerdictCell = Field(default_factory=VerdictCell)


class Series(BaseModel):
    """Objective per window of one cell: median and range over its counted runs."""

    target: str
    arm: str
    windows: list[int]
    phases: list[str]
    median: list[Optional[float]]
    low: list[Optional[float]]
    high: list[Optional[float]]
    runs: int


class BestRun(BaseModel):
    """The best counted run of a target (outside the baseline arm) and its knob trajectories."""

    target: str
    arm: str
    key: str
    seed: Optional[int] = None
    run_id: Optional[str] = None
    score: Optional[float] = None
    relative: Optional[float] = None
    windows: list[int] = Field(default_factory=list)
    phases: list[str] = Field(default_factory=list)
    knobs: dict[str, list[Any]] = Field(default_factory=dict)


class SweepReport(BaseModel):
    title: str = "SemaTune sweep report"
    source: str = ""
    parent_run_id: Optional[str] = None
    method: dict[str, Any] = Field(default_factory=dict)
    targets: list[TargetInfo] = Field(default_factory=list)
    cells: list[Cell] = Field(default_factory=list)
    geomeans: list[GeoMean] = Field(default_factory=list)
    runs: list[RunRow] = Field(default_factory=list)
    series: list[Series] = Field(default_factory=list)
    best: list[BestRun] = Field(default_factory=list)
    has_tokens: bool = False
    notes: list[str] = Field(default_factory=list)

    def cell(self, target: str, arm: str) -> Optional[Cell]:
        return next((c for c in self.cells if c.target == target and c.arm == arm), None)

    @property
    def arms(self) -> list[str]:
        return list(dict.fromkeys(c.arm for c in self.cells))


# -- per-run numbers ------------------------------------------------------------------------
def _scored(record: WindowRecord) -> bool:
    return record.status == "ok" and record.objective is not None and math.isfinite(record.objective)


def run_score(run: JobRun) -> Optional[float]:
    """Mean objective of the run's ok stable-phase windows (``None`` without any)."""
    values = [r.objective for r in run.records if r.phase == "stable" and r.arm != DEFAULTS and _scored(r)]
    return mean(values) if values else None  # type: ignore[arg-type]


def run_tokens(run: JobRun) -> Optional[TokenTotals]:
    """Token use summed over the run's windows (``None`` when no window logged any)."""
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


def _add_tokens(totals: Optional[TokenTotals], more: Optional[TokenTotals]) -> Optional[TokenTotals]:
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


def _worse(value: float, reference: float, goal: Optional[str], threshold: float) -> bool:
    if goal == "minimize":
        return value > reference * (1.0 + threshold)
    return value < reference * (1.0 - threshold)


# -- grouping -------------------------------------------------------------------------------
def _labels(runs: Sequence[JobRun]) -> dict[str, tuple[str, str]]:
    """``key → (target label, arm label)``; swept keys beyond target/tuner/seed join the labels."""
    maps = {r.key: r.override_map() for r in runs}
    keys = {k for m in maps.values() for k in m}
    varying = sorted(
        k for k in keys
        if k not in AXIS_KEYS and not key_matches(k, IGNORED_KEYS) and len({m.get(k) for m in maps.values()}) > 1
    )
    out = {}
    for run in runs:
        m = maps[run.key]
        target_extra = [f"{k}={m[k]}" for k in varying if key_matches(k, TARGET_KEYS) and k in m]
        arm_extra = [f"{k}={m[k]}" for k in varying if not key_matches(k, TARGET_KEYS) and k in m]
        target = str(run.target or m.get("target") or "?")
        tuner = str(run.tuner or m.get("tuner") or "?")
        out[run.key] = (
            target + (f" [{', '.join(target_extra)}]" if target_extra else ""),
            tuner + (f" [{', '.join(arm_extra)}]" if arm_extra else ""),
        )
    return out


def _bootstrap(
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


def _rng(seed: int, target: str, arm: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(target.encode()), zlib.crc32(arm.encode())])


def _ci(replicates: Optional[np.ndarray], confidence: float) -> tuple[Optional[float], Optional[float]]:
    if replicates is None:
        return None, None
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(replicates, [tail, 100.0 - tail])
    return float(low), float(high)


def _series(target: str, arm: str, runs: Sequence[JobRun]) -> Optional[Series]:
    if not runs:
        return None
    length = max(len(r.records) for r in runs)
    if length == 0:
        return None
    windows, phases, med, low, high = [], [], [], [], []
    for i in range(length):
        values = [r.records[i].objective for r in runs if i < len(r.records) and _scored(r.records[i])]
        phase = next((r.records[i].phase for r in runs if i < len(r.records)), "tuning")
        windows.append(i)
        phases.append(phase)
        med.append(float(median(values)) if values else None)  # type: ignore[arg-type]
        low.append(float(min(values)) if values else None)  # type: ignore[type-var]
        high.append(float(max(values)) if values else None)  # type: ignore[type-var]
    return Series(target=target, arm=arm, windows=windows, phases=phases, median=med, low=low, high=high,
                  runs=len(runs))


def _best_run(target: str, arm: str, run: JobRun, score: float, rel: Optional[float]) -> BestRun:
    names = list(dict.fromkeys(k for r in run.records for k in r.applied))
    changing = [n for n in names if len({repr(r.applied.get(n)) for r in run.records}) > 1]
    chosen = (changing or names)[:MAX_KNOBS]
    return BestRun(
        target=target, arm=arm, key=run.key, seed=run.seed, run_id=run.run_id, score=score, relative=rel,
        windows=[r.window for r in run.records], phases=[r.phase for r in run.records],
        knobs={n: [r.applied.get(n) for r in run.records] for n in chosen},
    )


# -- the report -----------------------------------------------------------------------------
def build_report(
    runs: Sequence[JobRun],
    *,
    baseline_tuner: str = "fixed",
    threshold: float = 0.10,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    title: str = "SemaTune sweep report",
    source: str = "",
    parent_run_id: Optional[str] = None,
) -> SweepReport:
    """Compare every arm with the baseline tuner, target by target (see the module docstring)."""
    report = SweepReport(
        title=title, source=source, parent_run_id=parent_run_id,
        method={
            "score": "mean objective over the ok stable-phase windows of a FINISHED run",
            "relative": "mean(arm scores)/baseline (maximise) or baseline/mean(arm scores) (minimise); >1 is better",
            "baseline_tuner": baseline_tuner,
            "ci": f"percentile bootstrap over seeds, {n_boot} replicates, both sides resampled, "
                  f"{confidence:.0%} interval, seed {seed}; only when both sides have >= 2 runs",
            "geomean": "exp(mean log r) over the targets where the arm has r; CI from the same replicates",
            "robustness": f"tuning windows worse than the reference by more than {threshold:.0%}; "
                          "spread = sample std of per-window relative score",
            "verdict": "frozen stable windows vs the defaults interleaved in the same run; gain with a "
                       f"{confidence:.0%} block-bootstrap CI (cells pool their runs' blocks)",
            "threshold": threshold, "n_boot": n_boot, "confidence": confidence, "seed": seed,
        },
    )
    labels = _labels(runs)
    scores = {r.key: run_score(r) if r.status == "FINISHED" else None for r in runs}
    targets = list(dict.fromkeys(labels[r.key][0] for r in runs))
    arms = list(dict.fromkeys(labels[r.key][1] for r in runs))
    replicates: dict[tuple[str, str], Optional[np.ndarray]] = {}

    for target in targets:
        in_target = [r for r in runs if labels[r.key][0] == target]
        metric = next((r.metric for r in in_target if r.metric), None)
        goal = next((r.goal for r in in_target if r.goal), None)
        if len({r.metric for r in in_target if r.metric}) > 1 or len({r.goal for r in in_target if r.goal}) > 1:
            report.notes.append(f"{target}: runs disagree on the objective; the first one ({metric}, {goal}) is used")
        target_arms = [a for a in arms if any(labels[r.key][1] == a for r in in_target)]
        base_arms = [a for a in target_arms if a.split(" [")[0] == baseline_tuner]
        base_arm = baseline_tuner if baseline_tuner in base_arms else (sorted(base_arms)[0] if base_arms else None)
        base_scores = [scores[r.key] for r in in_target if labels[r.key][1] == base_arm and scores[r.key] is not None]
        baseline = mean(base_scores) if base_scores else None  # type: ignore[arg-type]
        info = TargetInfo(target=target, metric=metric, goal=goal, baseline_arm=base_arm, baseline=baseline,
                          baseline_runs=len(base_scores))
        report.targets.append(info)
        if base_arm is None:
            report.notes.append(f"{target}: no `{baseline_tuner}` runs in this sweep; "
                                "relative scores are not available")
        elif baseline is None:
            report.notes.append(f"{target}: every `{baseline_tuner}` run failed or has no stable window; "
                                "relative scores are not available")
        best: Optional[tuple[float, str, JobRun, float]] = None
        for arm in target_arms:
            members = [r for r in in_target if labels[r.key][1] == arm]
            counted = [r for r in members if scores[r.key] is not None]
            cell = Cell(
                target=target, arm=arm, tuner=arm.split(" [")[0], is_baseline=arm == base_arm,
                expected=len(members), counted=len(counted),
                missing=sum(r.status == "MISSING" for r in members),
                seeds=[r.seed for r in counted],
            )
            cell.failed = cell.expected - cell.counted - cell.missing
            arm_scores = [scores[r.key] for r in counted]
            cell.mean = mean(arm_scores) if arm_scores else None  # type: ignore[arg-type]
            if cell.is_baseline:
                cell.relative = 1.0 if baseline is not None else None
            else:
                cell.relative = relative(cell.mean, baseline, goal)
                reps = _bootstrap(arm_scores, base_scores, goal, n_boot, _rng(seed, target, arm))  # type: ignore[arg-type]
                replicates[(target, arm)] = reps
                cell.ci_low, cell.ci_high = _ci(reps, confidence)
            cell.robustness = _robustness(counted, baseline, goal, threshold)
            cell.verdict = verdict_of([r.records for r in counted], goal, confidence, n_boot,
                                      seed_for(seed, target, arm))
            for r in members:
                cell.tokens = _add_tokens(cell.tokens, run_tokens(r))
            report.cells.append(cell)
            series = _series(target, arm, counted)
            if series is not None:
                report.series.append(series)
            for r in counted:
                s = scores[r.key]
                assert s is not None
                rank = s if goal != "minimize" else -s
                if not cell.is_baseline and (best is None or rank > best[0]):
                    best = (rank, arm, r, s)
        if best is not None:
            _, arm, run, s = best
            report.best.append(_best_run(target, arm, run, s, relative(s, baseline, goal)))

    for arm in arms:
        if all(c.is_baseline for c in report.cells if c.arm == arm):
            continue
        report.geomeans.append(_geomean(arm, report, replicates, confidence))

    for run in runs:
        target, arm = labels[run.key]
        info = next(t for t in report.targets if t.target == target)
        tokens = run_tokens(run)
        note = run.note
        if run.status == "FINISHED" and scores[run.key] is None and not note:
            note = "no ok stable-phase window"
        report.runs.append(RunRow(
            key=run.key, target=target, arm=arm, seed=run.seed, status=run.status,
            counted=scores[run.key] is not None, score=scores[run.key],
            relative=relative(scores[run.key], info.baseline, info.goal),
            windows=len(run.records), run_id=run.run_id, run_dir=run.run_dir, overrides=list(run.overrides),
            note=note, tokens=tokens,
            verdict=verdict_of([run.records], info.goal, confidence, n_boot, seed_for(seed, run.key)),
        ))
        report.has_tokens = report.has_tokens or tokens is not None
    return report


def _robustness(runs: Sequence[JobRun], baseline: Optional[float], goal: Optional[str], threshold: float) -> Robustness:
    out = Robustness(reference=baseline, reference_source="baseline" if baseline is not None else None)
    rels: list[float] = []
    for run in runs:
        reference = baseline
        if reference is None:
            own = [r.objective for r in run.records if r.phase == "baseline" and _scored(r)]
            reference = mean(own) if own else None  # type: ignore[arg-type]
            if reference is not None:
                out.reference_source = "own baseline window"
        for r in run.records:
            if r.phase != "tuning":
                continue
            out.tuning_windows += 1
            if r.status == "failed":
                out.failed += 1
            if not _scored(r) or reference is None:
                continue
            assert r.objective is not None
            out.scored += 1
            out.worse += _worse(r.objective, reference, goal, threshold)
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


def _geomean(arm: str, report: SweepReport, replicates: dict[tuple[str, str], Optional[np.ndarray]],
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
            out.ci_low, out.ci_high = _ci(combined, confidence)
    return out
