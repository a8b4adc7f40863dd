"""The tuner contract (the seed's ``TunerInterface``) and what tuners see of past windows."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Mapping, Optional, Sequence

from pydantic import BaseModel, Field

from sematune.osparams.base import Value
from sematune.osparams.space import ParameterSpace
from sematune.targets.base import BenchmarkMetrics
from sematune.validate import require

Goal = Literal["maximize", "minimize"]


class TokenUsage(BaseModel):
    """Tokens and cost of the model calls behind one proposal (LLM tuners)."""

    input_tokens: int = 0
    output_tokens: int = 0
    thinking_tokens: int = 0
    cost_usd: float = 0.0
    #: model calls made for this proposal, how many failed, and their wall time
    calls: int = 0
    failed_calls: int = 0
    latency_s: float = 0.0


class TunerResponse(BaseModel):
    """A proposal: values for tunable knobs (omitted knobs keep their value)."""

    parameters: dict[str, Any] = Field(default_factory=dict)
    confidence: Optional[float] = None
    justification: str = ""
    token_usage: Optional[TokenUsage] = None


@dataclass(frozen=True)
class Observation:
    """One scored window as tuners see it. ``reward`` is ``None`` for a failed window."""

    window: int
    phase: str
    parameters: Mapping[str, Value]
    reward: Optional[float]
    objective: Optional[float]
    metrics: Optional[BenchmarkMetrics] = None
    feasible: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TunerConfig:
    """What a seed-style tuner whose ``__init__`` takes ``config`` receives.

    ``parameter_ranges`` maps each knob name to its domain (``low``/``high``/``log``/``dtype`` or
    ``choices``), as the seed's ``config.parameter_ranges`` did.
    """

    parameter_ranges: Mapping[str, Mapping[str, Any]]
    optimization_goal: Goal
    seed: int
    space: ParameterSpace

    @classmethod
    def of(cls, space: ParameterSpace, goal: Goal, seed: int) -> "TunerConfig":
        ranges = {p.name: p.domain.describe() for p in space}
        return cls(parameter_ranges=ranges, optimization_goal=goal, seed=int(seed), space=space)


class Tuner(ABC):
    """Proposes knob settings; never touches the host.

    The engine builds a tuner with the run's :class:`ParameterSpace`, the objective's goal
    and the seed (plus its YAML settings), calls :meth:`observe` after every measured window
    (the baseline included) and :meth:`suggest_parameters` before every tuning window.
    """

    #: The ``sematune[extra]`` that provides this tuner's optional dependencies.
    extra: ClassVar[Optional[str]] = None
    #: Where the tuner may write files of its own (set by the engine before the run; recorded as
    #: the run's ``tuner/`` artifacts). ``None`` outside a run.
    results_dir: Optional[Path] = None

    def __init__(self, *, space: ParameterSpace, goal: Goal = "maximize", seed: int = 0) -> None:
        require("objective.goal", goal in ("maximize", "minimize"),
                f"must be maximize or minimize, not {goal!r}")
        self.space = space
        self.goal: Goal = goal
        self.seed = int(seed)
        self.history: list[Observation] = []

    def adopt(self, *, space: ParameterSpace, goal: Goal, seed: int) -> None:
        """Fill in the engine's state when a subclass's own ``__init__`` did not call ours."""
        for name, value in (("space", space), ("goal", goal), ("seed", int(seed))):
            if not hasattr(self, name):
                setattr(self, name, value)
        if not hasattr(self, "history"):
            self.history = []

    def reward(self, objective: float) -> float:
        """The objective as a reward to maximise (negated when the goal is minimise)."""
        return objective if self.goal == "maximize" else -objective

    @abstractmethod
    def suggest_parameters(
        self,
        metrics: Optional[BenchmarkMetrics],
        current_params: Mapping[str, Value],
        iteration: int,
        best_reward: float = 0.0,
        **kwargs: Any,
    ) -> TunerResponse:
        """Propose the configuration for window ``iteration``."""

    def observe(self, observation: Observation) -> None:
        """Learn from a measured window (default: remember it)."""
        self.history.append(observation)

    def best_parameters(self) -> Optional[dict[str, Value]]:
        """The configuration to freeze for the stable phase.

        ``None`` lets the engine pick the best observed window; a dict is merged into the host
        defaults (so ``{}`` means host defaults).
        """
        return None

    def describe(self) -> dict[str, Any]:
        """Settings worth logging as run parameters."""
        return {}

    def finish(self, completed: bool) -> dict[str, Any]:
        """Facts to record once the run is over and the host restored (``summary.json``'s ``tuner``).

        ``completed`` is false when the run failed or was interrupted. Called before :meth:`close`.
        """
        return {}

    def close(self) -> None:
        """Release resources (temp dirs, threads)."""

    # -- helpers for subclasses ---------------------------------------------------------------
    def best_observation(self, observations: Optional[Sequence[Observation]] = None) -> Optional[Observation]:
        """The feasible observation with the highest reward (infeasible ones only if none is feasible)."""
        scored = [o for o in (observations if observations is not None else self.history) if o.reward is not None]
        if not scored:
            return None
        return max(scored, key=lambda o: (o.feasible, o.reward))


#: The seed's name for the tuner contract.
TunerInterface = Tuner
