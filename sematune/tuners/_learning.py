"""Shared plumbing of the learning tuners: the reward scale, failed windows.

Every learning tuner sees rewards that are already direction-aware (higher is better). This
base keeps the numbers they all need from the observed windows:

* the *baseline reward* (the first scored window, normally window 0 at host defaults), which
  scales rewards for the reinforcement learners: ``(reward - baseline) / |baseline|``;
* the *worst reward* seen, which stands in for a failed window (``reward is None``): a failed
  configuration is taught as being as bad as the worst one measured, a finite penalty that
  keeps optimisers away from it without wrecking their cost models (no ``inf``).
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from typing import Any, Mapping, Optional

from sematune.osparams.base import Value
from sematune.tuners.base import Observation, Tuner, TunerResponse

log = logging.getLogger(__name__)


class LearningTuner(Tuner):
    """A tuner that learns from every observed window (baseline and failures included)."""

    #: Short name used in log lines.
    label: str = "tuner"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.baseline_reward: Optional[float] = None
        self.worst_reward: Optional[float] = None
        self._costs: dict[tuple[tuple[str, Any], ...], list[float]] = {}

    # -- observation bookkeeping ------------------------------------------------------------
    def observe(self, observation: Observation) -> None:
        super().observe(observation)
        reward = observation.reward
        if reward is not None:
            if self.baseline_reward is None:
                self.baseline_reward = reward
            self.worst_reward = reward if self.worst_reward is None else min(self.worst_reward, reward)
        self._learn(observation)

    @abstractmethod
    def _learn(self, observation: Observation) -> None:
        """Feed one observed window to the learner (``reward`` may be ``None``)."""

    def effective_reward(self, observation: Observation) -> Optional[float]:
        """The window's reward, or the worst reward seen for a failed window (``None`` if none yet)."""
        return observation.reward if observation.reward is not None else self.worst_reward

    def mean_cost(self, config: Optional[Mapping[str, Any]], observation: Observation) -> Optional[float]:
        """``-reward`` averaged over every window that measured ``config`` (``None``: nothing to tell).

        ``None`` when the configuration is not representable (``config is None``) or the window
        failed before any window was scored.
        """
        reward = self.effective_reward(observation)
        if config is None or reward is None:
            log.debug("%s: window %d not registered (%s)", self.label, observation.window,
                      "not representable in the search space" if config is None else "failed, nothing scored yet")
            return None
        costs = self._costs.setdefault(tuple(sorted(config.items())), [])
        costs.append(-reward)
        return sum(costs) / len(costs)

    def repeat_best(self, reason: str) -> TunerResponse:
        """Propose the best observed configuration again (when the optimiser has nothing new)."""
        best = self.best_observation()
        return TunerResponse(
            parameters=dict(best.parameters) if best is not None else {},
            confidence=1.0,
            justification=f"{reason}; repeating the best configuration seen",
        )

    def scaled(self, reward: float) -> float:
        """``reward`` relative to the baseline window: 0 at the baseline, +0.1 is 10% better."""
        base = self.baseline_reward if self.baseline_reward is not None else reward
        return (reward - base) / (abs(base) or 1.0)

    # -- the end of a run -------------------------------------------------------------------
    def final_configuration(self) -> Optional[dict[str, Value]]:
        """What this tuner would freeze: :meth:`best_parameters`, else the best observed window."""
        chosen = self.best_parameters()
        if chosen is not None:
            return chosen
        best = self.best_observation()
        return dict(best.parameters) if best is not None else None

    def close(self) -> None:
        log.info("%s tuner: best configuration %s (settings %s)", self.label, self.final_configuration(),
                 self.describe())


def derived_seed(seed: int) -> int:
    """A seed in ``[1, 2**31 - 1]`` for libraries that treat 0 or negative seeds as "random"."""
    return seed % 2_147_483_646 + 1
