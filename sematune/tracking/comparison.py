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

from statistics import mean, median
from typing import Optional, Sequence

import numpy as np

from sematune.engine.verdict import seed_for
from sematune.tracking.comparison_verdict import verdict_of

from sematune.tracking.comparison_model import (
    AXIS_KEYS,
    IGNORED_KEYS,
    MAX_KNOBS,
    TARGET_KEYS,
    BestRun,
    Cell,
    JobRun,
    RunRow,
    Series,
    SweepReport,
    TargetInfo,
    key_matches,
)
from sematune.tracking.comparison_stats import (
    add_tokens,
    bootstrap,
    ci,
    geomean,
    relative,
    robustness,
    run_score,
    run_tokens,
    scored,
    seeded_rng,
)


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


def _series(target: str, arm: str, runs: Sequence[JobRun]) -> Optional[Series]:
    if not runs:
        return None
    length = max(len(r.records) for r in runs)
    if length == 0:
        return None
    windows, phases, med, low, high = [], [], [], [], []
    for i in range(length):
        values = [r.records[i].objective for r in runs if i < len(r.records) and scored(r.records[i])]
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
                reps = bootstrap(arm_scores, base_scores, goal, n_boot, seeded_rng(seed, target, arm))  # type: ignore[arg-type]
                replicates[(target, arm)] = reps
                cell.ci_low, cell.ci_high = ci(reps, confidence)
            cell.robustness = robustness(counted, baseline, goal, threshold)
            cell.verdict = verdict_of([r.records for r in counted], goal, confidence, n_boot,
                                      seed_for(seed, target, arm))
            for r in members:
                cell.tokens = add_tokens(cell.tokens, run_tokens(r))
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
        report.geomeans.append(geomean(arm, report, replicates, confidence))

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
