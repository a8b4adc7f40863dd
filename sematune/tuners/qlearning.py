"""Tabular Q-learning over a discretised knob space (no optional dependency).

* **State**: where the host is — every knob's grid position, taken from the values the
  kernel really held (read back), so a rejected or clipped write does not fool the learner.
* **Actions**: set one knob to one of its grid values (:class:`~sematune.tuners._grid.ActionGrid`;
  setting a knob to its current value is the "stay" action).
* **Q-function on afterstates**: an action is deterministic — it leads to a known configuration
  (the *afterstate*) — so ``Q(s, a) = V(after(s, a))``, and ``V`` is a table per knob added up,
  ``V(x) = sum_k v_k[x_k]`` (``sum(len(grid))`` entries: any knob set fits). Every window updates
  the entry of *every* knob at its read-back position, so one window teaches about all knobs.
* **Reward**: the window's reward relative to the baseline window (0 at host defaults, +0.1 =
  10% better), its sign from the objective's goal; a failed window earns the worst reward seen.
* **Policy**: ε-greedy with geometric decay over ``Q(s, ·)``; TD update on the observed
  configuration ``x``: ``δ = r + γ max_a Q(x, a) − V(x)``, each ``v_k[x_k] += α δ / K``.
"""

from __future__ import annotations

import random
from typing import Any, Mapping, Optional

from sematune.osparams.base import Value
from sematune.targets.base import BenchmarkMetrics
from sematune.tuners._explore import EpsilonGreedy
from sematune.tuners._grid import ActionGrid
from sematune.tuners._learning import LearningTuner, check, is_number
from sematune.tuners.base import Observation, TunerResponse


class QLearningTuner(LearningTuner):
    """ε-greedy tabular Q-learning, one knob moved per window."""

    label = "qlearning"

    def __init__(
        self,
        *,
        grid_points: int = 5,
        max_actions: int = 1000,
        learning_rate: float = 0.5,
        discount: float = 0.5,
        epsilon_start: float = 1.0,
        epsilon_end: float = 0.05,
        epsilon_decay: float = 0.9,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check("learning_rate", is_number(learning_rate) and 0 < learning_rate <= 1,
              f"must be in (0, 1], got {learning_rate!r}")
        check("discount", is_number(discount) and 0 <= discount < 1, f"must be in [0, 1), got {discount!r}")
        self.rng = random.Random(self.seed)
        self.policy = EpsilonGreedy(epsilon_start, epsilon_end, epsilon_decay, self.rng)
        self.grid = ActionGrid(self.space, grid_points, max_actions)
        self.alpha = float(learning_rate)
        self.gamma = float(discount)
        #: v[k][j]: knob k's share of the value of a configuration with knob k at grid value j.
        self.v = [[0.0] * len(g) for g in self.grid.values]

    def value(self, state: tuple[int, ...]) -> float:
        """``V`` of a configuration (its grid position)."""
        return sum(self.v[k][i] for k, i in enumerate(state))

    def q_values(self, state: tuple[int, ...]) -> list[float]:
        """``Q(state, a)`` for every action: the value of the configuration the action leads to."""
        here = self.value(state)
        return [here - self.v[k][state[k]] + self.v[k][j] for k, j in self.grid.actions]

    def suggest_parameters(
        self,
        metrics: Optional[BenchmarkMetrics],
        current_params: Mapping[str, Value],
        iteration: int,
        best_reward: float = 0.0,
        **kwargs: Any,
    ) -> TunerResponse:
        values = self.q_values(self.grid.position(current_params))
        action, explored = self.policy.choose(values)
        why = "explore" if explored else f"greedy, Q={values[action]:+.4f}"
        return TunerResponse(parameters=self.grid.proposal(action),
                             justification=f"{self.grid.describe(action)} ({why}, ε={self.policy.epsilon:.3f})")

    def _learn(self, observation: Observation) -> None:
        reward = self.effective_reward(observation)
        if reward is None:
            return
        state = self.grid.position(observation.parameters)
        delta = self.scaled(reward) + self.gamma * max(self.q_values(state)) - self.value(state)
        step = self.alpha * delta / len(state)
        for k, i in enumerate(state):
            self.v[k][i] += step

    def describe(self) -> dict[str, Any]:
        return {
            "grid_points": self.grid.points, "actions": len(self.grid), "learning_rate": self.alpha,
            "discount": self.gamma, **self.policy.describe(), "knobs": len(self.space),
        }
