"""``loop.*``: the window loop's settings (budget, phases, noise handling, guard rails)."""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sematune.engine import guards


class LoopSettings(BaseModel):
    """``loop.*`` in the config."""

    model_config = ConfigDict(extra="forbid")

    tuning_windows: int = Field(30, ge=1, description="windows in which the tuner proposes")
    stable_windows: int = Field(20, ge=0, description="windows with the chosen configuration frozen")
    window_seconds: float = Field(5.0, gt=0, description="length of one measured window")
    settle_seconds: float = Field(1.0, ge=0, description="pause after an apply, not measured")
    baseline_every: int = Field(0, ge=0, description="an extra host-default window every K tuning windows (0: off)")
    max_consecutive_failures: int = Field(3, ge=1, description="abort after this many failed windows in a row")
    max_remeasure: int = Field(2, ge=0, description="re-measure a contaminated window at most this often")
    foreign_cpu_limit: Union[Literal["auto"], None, float] = Field(
        "auto",
        description="share of the window's CPU capacity (window × CPUs) used by other processes above which "
        "a window is contaminated and re-measured (auto: sized for the host, see auto_foreign_cpu_limit; null: off)",
    )
    confirm_candidates: int = Field(
        2, ge=0, description="configurations re-measured against the defaults before the stable phase "
        "(the tuner's best_parameters() first, then the best tuning means; 0: freeze the tuner's pick unconfirmed)")
    confirm_repeats: int = Field(
        7, ge=1, description="interleaved rounds (defaults, c1, c2, …) in the confirm phase; a candidate can only "
        "be significant with enough rounds (6 at 95%, 7 for two candidates)")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="confidence of the verdict's CI and of every decision")
    stable_defaults_every: int = Field(
        3, ge=0, description="every K-th stable window runs the defaults (arm=defaults; 0: off, no verdict)")
    fallback_min_defaults: int = Field(
        3, ge=1, description="interleaved stable default windows before the growing-harm check starts")
    bootstrap_samples: int = Field(2000, ge=100, description="bootstrap replicates for every CI")

    min_traffic: Optional[guards.MinTraffic] = Field(
        None, description="{metric, min}: windows with less traffic are idle — re-measured, then not scored")
    max_regression: Optional[float] = Field(
        None, gt=0, description="stop exploring and restore the defaults when a tuning window's objective is "
        "worse than the defaults' mean by more than this fraction (null: off)")
    dry_run_windows: int = Field(0, ge=0, description="only observe and score the current configuration for "
                                 "this many windows (A/A noise; 0: tune)")

    @field_validator("foreign_cpu_limit", mode="before")
    @classmethod
    def _auto_null_or_share(cls, value: Any) -> Any:
        if value is None or value == "auto":
            return value
        try:
            share = float(value)
        except (TypeError, ValueError):
            share = float("nan")
        if not 0 <= share <= 1 or isinstance(value, bool):
            raise ValueError("must be auto, null (off) or a share of the CPU capacity in [0, 1]")
        return share

    @field_validator("stable_defaults_every")
    @classmethod
    def _not_one(cls, value: int) -> int:
        if value == 1:
            raise ValueError("1 would measure only the defaults; use 0 (off) or >= 2")
        return value

    def confirm_windows(self, candidates: Optional[int] = None) -> int:
        """Windows of the confirm phase for ``candidates`` (default: the configured maximum)."""
        k = self.confirm_candidates if candidates is None else candidates
        return self.confirm_repeats * (1 + k) if k and self.stable_windows else 0

    def planned_windows(self) -> int:
        """The run's window budget: baseline(s), tuning, confirm (at most) and stable windows."""
        extra = (self.tuning_windows - 1) // self.baseline_every if self.baseline_every else 0
        return 1 + extra + self.tuning_windows + self.confirm_windows() + self.stable_windows


#: Sampling uncertainty of per-window CPU times, per CPU (see docs/targets.md, probes).
TICK_NOISE_S = 0.02


def auto_foreign_cpu_limit(cpus: int) -> float:
    """The ``auto`` contamination limit: other processes using a whole CPU on a small host, or a
    quarter of the host's CPU capacity on a large one (``max(1/cpus, 0.25)``)."""
    return max(1.0 / max(cpus, 1), 0.25)
