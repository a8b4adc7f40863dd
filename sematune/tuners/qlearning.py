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

from typing import Any, Mapping

from sematune.osparams.base import Value
from sematune.tuners._gridtuner import GridTuner
from sematune.tuners.base import Observation
from sematune.validate import is_number, require


class QLearningTuner(GridTuner):
    """ε-greedy tabular Q-learning, one knob moved per window."""

    label = "qlearning"

    def __init__(self, *, learning_rate: float = 0.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        require("tuner.learning_rate", is_number(learning_rate) and 0 < learning_rate <= 1,
                f"must be in (0, 1], got {learning_rate!r}")
        self.alpha = float(learning_rate)
        self.settings = {"learning_rate": self.alpha}
        #: v[k][j]: knob k's share of the value of a configuration with knob k at grid value j.
        self.v = [[0.0] * len(g) for g in self.grid.values]

    def value(self, state: tuple[int, ...]) -> float:
        """``V`` of a configuration (its grid position)."""
        return sum(self.v[k][i] for k, i in enumerate(state))

    def q_values(self, state: tuple[int, ...]) -> list[float]:
        """``Q(state, a)`` for every action: the value of the configuration the action leads to."""
        here = self.value(state)
        return [here - self.v[k][state[k]] + self.v[k][j] for k, j in self.grid.actions]

    def action_values(self, current_params: Mapping[str, Value], iteration: int) -> list[float]:
        return self.q_values(self.grid.position(current_params))

    def _learn(self, observation: Observation) -> None:
        reward = self.effective_reward(observation)
        if reward is None:
            return
        state = self.grid.position(observation.parameters)
        delta = self.scaled(reward) + self.gamma * max(self.q_values(state)) - self.value(state)
        step = self.alpha * delta / len(state)
        for k, i in enumerate(state):
            self.v[k][i] += step
