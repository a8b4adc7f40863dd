"""The comparison report's data: the jobs of a sweep and the pydantic models a report is made of."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from pydantic import BaseModel, Field

from sematune.engine.records import WindowRecord
from sematune.tracking.comparison_verdict import VerdictCell

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
    #: An LLM tuner's run totals (every model call, freeze and gist included), when recorded.
    model_calls: Optional[dict[str, Any]] = None

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
