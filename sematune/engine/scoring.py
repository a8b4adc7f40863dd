"""Objective, optional constraint, and the reward a window earns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict

from sematune.targets.base import BenchmarkMetrics

Goal = Literal["maximize", "minimize"]


class Objective(BaseModel):
    """The metric to optimise and its direction."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str
    goal: Goal = "maximize"

    def reward(self, value: float) -> float:
        return value if self.goal == "maximize" else -value


class Constraint(BaseModel):
    """A bound on a metric: ``upper`` means value ≤ bound, ``lower`` means value ≥ bound.

    ``penalty`` (≥ 0) lowers an infeasible window's reward by ``penalty × |reward| × relative
    violation``; infeasible windows also rank below every feasible one when picking the best.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str
    bound: float
    direction: Literal["upper", "lower"] = "upper"
    penalty: float = 0.0


@dataclass(frozen=True)
class Score:
    objective: Optional[float]
    reward: Optional[float]
    feasible: bool = True
    constraint_value: Optional[float] = None
    constraint_violation: Optional[float] = None
    error: Optional[str] = None


def score(metrics: BenchmarkMetrics, objective: Objective, constraint: Optional[Constraint] = None) -> Score:
    """Score a window; a missing objective metric is an error, never a zero."""
    value = metrics.get(objective.metric)
    if value is None:
        present = ", ".join(sorted(metrics.flat())) or "none"
        return Score(None, None, error=f"objective metric {objective.metric!r} missing (have: {present})")
    reward = objective.reward(value)
    if constraint is None:
        return Score(value, reward)
    bound_value = metrics.get(constraint.metric)
    if bound_value is None:
        return Score(value, reward, feasible=False, error=f"constraint metric {constraint.metric!r} missing")
    excess = bound_value - constraint.bound if constraint.direction == "upper" else constraint.bound - bound_value
    violation = max(0.0, excess)
    feasible = violation == 0.0
    if not feasible and constraint.penalty > 0:
        relative = violation / abs(constraint.bound) if constraint.bound else violation
        reward -= constraint.penalty * abs(reward) * relative
    return Score(value, reward, feasible, bound_value, violation)
