"""The base of the discrete-action tuners (``qlearning``, ``dqn``): one knob to a grid value per window.

A subclass scores every action of the :class:`~sematune.tuners._grid.ActionGrid` for the
configuration the host holds (:meth:`GridTuner.action_values`); the base picks one
ε-greedily (:class:`~sematune.tuners._explore.EpsilonGreedy`, seeded) and proposes it. The
grid (``grid_points``, ``max_actions``), the exploration schedule and the discount ``γ`` are
the same settings for both.
"""

from __future__ import annotations

import random
from abc import abstractmethod
from typing import Any, Mapping, Optional

from sematune.osparams.base import Value
from sematune.targets.base import BenchmarkMetrics
from sematune.tuners._explore import EpsilonGreedy
from sematune.tuners._grid import ActionGrid
from sematune.tuners._learning import LearningTuner
from sematune.tuners.base import TunerResponse
from sematune.validate import is_number, require


class GridTuner(LearningTuner):
    """ε-greedy over "set knob ``k`` to grid value ``j``" actions, valued by the subclass."""

    def __init__(
        self,
        *,
        grid_points: int = 5,
        max_actions: int = 1000,
        discount: float = 0.5,
        epsilon_start: float = 1.0,
        epsilon_end: float = 0.05,
        epsilon_decay: float = 0.9,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        require("tuner.discount", is_number(discount) and 0 <= discount < 1, f"must be in [0, 1), got {discount!r}")
        self.rng = random.Random(self.seed)
        self.policy = EpsilonGreedy(epsilon_start, epsilon_end, epsilon_decay, self.rng)
        self.grid = ActionGrid(self.space, grid_points, max_actions)
        self.gamma = float(discount)
        #: Subclass settings worth logging (the grid, discount and exploration are added by describe()).
        self.settings: dict[str, Any] = {}

    @abstractmethod
    def action_values(self, current_params: Mapping[str, Value], iteration: int) -> list[float]:
        """The value of every grid action from the configuration ``current_params``."""

    def chose(self, action: int) -> None:
        """Called with the action about to be proposed (default: nothing to remember)."""

    def suggest_parameters(
        self,
        metrics: Optional[BenchmarkMetrics],
        current_params: Mapping[str, Value],
        iteration: int,
        best_reward: float = 0.0,
        **kwargs: Any,
    ) -> TunerResponse:
        values = self.action_values(current_params, iteration)
        action, explored = self.policy.choose(values)
        self.chose(action)
        why = "explore" if explored else f"greedy, Q={values[action]:+.4f}"
        return TunerResponse(parameters=self.grid.proposal(action),
                             justification=f"{self.grid.describe(action)} ({why}, ε={self.policy.epsilon:.3f})")

    def describe(self) -> dict[str, Any]:
        return {"grid_points": self.grid.points, "actions": len(self.grid), **self.settings, "discount": self.gamma,
                **self.policy.describe(), "knobs": len(self.space)}
