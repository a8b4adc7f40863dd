"""From window records to decisions: confirmation candidates, interleaved blocks, the run's verdict.

Pure functions over :class:`WindowRecord` lists (the engine, the session summary and the sweep
report share them); the statistics live in :mod:`sematune.engine.verdict`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

from sematune.engine.records import WindowRecord
from sematune.engine.verdict import Block, GainEstimate, block_gain, coefficient_of_variation, seed_for

DEFAULTS = "defaults"
FROZEN = "frozen"


def candidate_arm(k: int) -> str:
    return f"candidate-{k}"


def config_key(config: Mapping[str, Any]) -> str:
    """A canonical text for a configuration (to group windows of the same applied values)."""
    return json.dumps(sorted((str(k), v) for k, v in config.items()), default=str)


def config_diff(config: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{knob: {"default": v, "chosen": v}}`` for the knobs whose value differs from the defaults."""
    return {k: {"default": defaults.get(k), "chosen": v} for k, v in config.items() if defaults.get(k) != v}


def usable(record: WindowRecord) -> bool:
    """A window that enters means: status ``ok`` with a finite objective (failed and contaminated do not)."""
    return record.status == "ok" and record.objective is not None and math.isfinite(record.objective)


@dataclass
class Candidate:
    """A configuration to confirm and where it came from."""

    config: dict[str, Any]
    source: str
    tuning_mean: Optional[float] = None
    tuning_windows: int = 0


def rank_candidates(records: Sequence[WindowRecord], defaults: Mapping[str, Any], limit: int,
                    proposed: Optional[Mapping[str, Any]] = None) -> list[Candidate]:
    """Up to ``limit`` distinct non-default configurations: the tuner's own (``proposed``) first,
    then by mean reward over all usable tuning windows of the same applied configuration
    (configurations with an infeasible window rank last)."""
    seen = {config_key(defaults)}
    out: list[Candidate] = []
    if proposed is not None and config_key(proposed) not in seen and limit > 0:
        seen.add(config_key(proposed))
        out.append(Candidate(dict(proposed), "tuner's best_parameters()"))
    groups: dict[str, list[WindowRecord]] = {}
    for r in records:
        if r.phase == "tuning" and usable(r) and r.reward is not None:
            groups.setdefault(config_key(r.applied), []).append(r)
    def rank(rs: list[WindowRecord]) -> tuple[bool, float]:
        return all(r.feasible for r in rs), sum(float(r.reward) for r in rs) / len(rs)  # type: ignore[arg-type]

    ranked = sorted(groups.values(), key=rank, reverse=True)
    for rs in ranked:
        key = config_key(rs[0].applied)
        if len(out) >= limit:
            break
        if key in seen:
            continue
        seen.add(key)
        mean = sum(r.objective for r in rs) / len(rs)  # type: ignore[misc]
        out.append(Candidate(dict(rs[0].applied), "best tuning mean", mean, len(rs)))
    return out


def interleaved_blocks(records: Sequence[WindowRecord], phase: str, arm: str, *, defaults_first: bool) -> list[Block]:
    """Blocks of ``arm`` vs ``defaults`` windows of ``phase``, in order.

    Windows that carry their block number are grouped by it (counterbalanced rounds: D c1 | c1 D |
    …). Older histories without block numbers are split at each default window: ``defaults_first``,
    a default window opens a block (confirmation rounds: D c1 c2 | D c1 c2), else it closes one
    (stable phase: F F F D | F F F D). Trailing blocks without a tuned window (after a fallback to
    the defaults) are dropped. Only usable windows enter.
    """
    mine = [r for r in records if r.phase == phase and r.arm in (arm, DEFAULTS)]
    if mine and all(r.block is not None for r in mine):
        by_block: dict[int, tuple[list[float], list[float]]] = {}
        for r in mine:
            block = by_block.setdefault(int(r.block), ([], []))  # type: ignore[arg-type]
            if usable(r):
                (block[1] if r.arm == DEFAULTS else block[0]).append(float(r.objective))  # type: ignore[arg-type]
        grouped = list(by_block.values())
        while grouped and not grouped[-1][0]:
            grouped.pop()
        return [b for b in grouped if b[0] or b[1]]
    blocks: list[tuple[list[float], list[float]]] = []
    current: tuple[list[float], list[float]] = ([], [])
    for r in records:
        if r.phase != phase or r.arm not in (arm, DEFAULTS):
            continue
        if r.arm == DEFAULTS and defaults_first and (current[0] or current[1]):
            blocks.append(current)
            current = ([], [])
        if usable(r):
            (current[1] if r.arm == DEFAULTS else current[0]).append(float(r.objective))  # type: ignore[arg-type]
        if r.arm == DEFAULTS and not defaults_first:
            blocks.append(current)
            current = ([], [])
    if current[0] or current[1]:
        blocks.append(current)
    while blocks and not blocks[-1][0]:
        blocks.pop()
    return [b for b in blocks if b[0] or b[1]]


def arm_estimate(records: Sequence[WindowRecord], phase: str, arm: str, goal: str, confidence: float,
                 n_boot: int = 2000, label: str = "") -> GainEstimate:
    """``arm`` vs the interleaved defaults within ``phase``."""
    blocks = interleaved_blocks(records, phase, arm, defaults_first=phase == "confirm")
    return block_gain(blocks, goal, confidence, n_boot, seed_for(label, phase, arm))


def noise_cv(records: Sequence[WindowRecord]) -> Optional[float]:
    """A/A spread of the default windows: baseline windows and interleaved ``defaults`` windows."""
    values = [float(r.objective) for r in records  # type: ignore[arg-type]
              if usable(r) and (r.phase == "baseline" or r.arm == DEFAULTS)]
    return coefficient_of_variation(values)


@dataclass
class Decision:
    """What the confirmation phase chose and why."""

    frozen: Optional[str]  # "tuned" | "defaults" | None without a stable phase
    reason: str
    config: dict[str, Any] = field(default_factory=dict)
    arm: Optional[str] = None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    fallback: Optional[str] = None


def pct(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:+.1%}"


def fmt_confidence(confidence: float) -> str:
    """``95%``, or ``99.6%`` for the stricter per-look level of the growing-harm check."""
    text = f"{confidence:.1%}"
    return text.replace(".0%", "%")


def describe_gain(estimate: GainEstimate) -> str:
    ci = (f"{fmt_confidence(estimate.confidence)} CI {pct(estimate.ci_low)} … {pct(estimate.ci_high)}"
          if estimate.ci_low is not None else "no CI")
    return f"{pct(estimate.gain)} ({ci})"


def build_verdict(records: Sequence[WindowRecord], metric: str, goal: str, confidence: float,
                  decision: Optional[Decision], n_boot: int = 2000, label: str = "") -> dict[str, Any]:
    """The run's verdict: the stable phase's frozen windows vs its interleaved default windows."""
    estimate = arm_estimate(records, "stable", FROZEN, goal, confidence, n_boot, label)
    excluded = sum(1 for r in records if r.phase in ("confirm", "stable") and not usable(r))
    if decision is None:
        decision = infer_decision(records)
    return {
        "metric": metric,
        "goal": goal,
        "frozen": decision.frozen,
        "reason": decision.reason,
        "stable_mean": estimate.tuned_mean,
        "defaults_mean": estimate.defaults_mean,
        "gain": estimate.gain,
        "ci_low": estimate.ci_low,
        "ci_high": estimate.ci_high,
        "confidence": confidence,
        "significant": estimate.significant,
        "n_stable": estimate.n_tuned,
        "n_defaults": estimate.n_defaults,
        "n_excluded": excluded,
        "noise_cv": noise_cv(records),
        "fallback": decision.fallback,
    }


def infer_decision(records: Sequence[WindowRecord]) -> Decision:
    """The decision as far as the records show it (for reports built from histories alone)."""
    frozen = [r for r in records if r.phase == "stable" and r.arm == FROZEN]
    if not frozen:
        return Decision(None, "no stable phase")
    default_keys = {config_key(r.applied) for r in records if r.phase == "baseline" or r.arm == DEFAULTS}
    same = config_key(frozen[0].applied) in default_keys
    return Decision("defaults" if same else "tuned", "from the window history")
