"""The base of the model-based tuners (``bayesian``, ``mlos``): ask/tell over a ConfigSpace space.

A subclass wraps one optimiser behind two hooks: :meth:`AskTellTuner._ask` returns the next
configuration (ConfigSpace values) or raises ``StopIteration`` when it has none, and
:meth:`AskTellTuner._tell` hands it one measured window. The base does the rest the same
way for every backend:

* every observed window is told as ``cost = -reward`` against the configuration the kernel
  really held (read back) — the baseline first; a configuration measured again is told the
  mean of its costs, a failed window the worst cost seen (:mod:`sematune.tuners._learning`);
* an exhausted optimiser repeats the best configuration seen;
* for optimisers without a random design of their own (FLAML), the base proposes the first
  ``random_first`` configurations and then a ``random_share`` of them at random (seeded),
  registering them like any other window — on large knob sets of which few matter this keeps
  the search from settling around the first good point;
* :meth:`best_parameters` offers the model's best guess among the configurations measured:
  a random forest fitted to their mean costs (leaves of at least ``pick_leaf`` points, so a
  configuration's estimate borrows from its neighbours) picks the one it predicts best, which
  discounts a single lucky window. The engine re-measures this offer against the defaults
  (the ``confirm`` phase) before it freezes anything.
"""

from __future__ import annotations

import logging
import random
import statistics
from abc import abstractmethod
from typing import Any, Mapping, Optional

from sematune._imports import optional_import
from sematune.osparams.base import Value
from sematune.targets.base import BenchmarkMetrics
from sematune.tuners._configspace import build_configspace, from_configspace_values, to_configspace_values
from sematune.tuners._learning import LearningTuner
from sematune.tuners.base import Observation, TunerResponse
from sematune.validate import integer

log = logging.getLogger(__name__)

#: Minimum points per leaf of the forest behind :meth:`AskTellTuner.best_parameters`.
PICK_LEAF = 3
#: Configurations measured before the forest picks (fewer: the lowest mean cost).
PICK_MIN_CONFIGS = 6


class AskTellTuner(LearningTuner):
    """A model-based optimiser driven window by window: ask → measure → tell."""

    def __init__(self, *, n_trials: int = 30, space_seed: Optional[int] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        integer("tuner.n_trials", n_trials, 1)
        self.n_trials = n_trials
        self.settings: dict[str, Any] = {}
        self._cs = build_configspace(self.space, self.seed if space_seed is None else space_seed, self.extra or "")
        self._exhausted = False
        self._rng = random.Random(self.seed)
        self._asked = 0
        self.random_first = 0
        self.random_share = 0.0

    def interleave_random(self, first: int, share: float) -> None:
        """Propose the first ``first`` configurations, then a ``share`` of the rest, at random."""
        self.random_first, self.random_share = first, share

    # -- the optimiser ----------------------------------------------------------------------
    @abstractmethod
    def _ask(self) -> tuple[Mapping[str, Any], str]:
        """The next configuration (ConfigSpace values) and why; ``StopIteration`` when none is left."""

    @abstractmethod
    def _tell(self, values: dict[str, Any], cost: float, observation: Observation) -> None:
        """Teach the optimiser one window: ``values`` held, mean ``cost`` (``reward is None``: failed)."""

    # -- the tuner contract -----------------------------------------------------------------
    def _learn(self, observation: Observation) -> None:
        values = to_configspace_values(self.space, observation.parameters, self._cs)
        cost = self.mean_cost(values, observation)
        if values is not None and cost is not None:
            self._tell(values, cost, observation)

    def suggest_parameters(
        self,
        metrics: Optional[BenchmarkMetrics],
        current_params: Mapping[str, Value],
        iteration: int,
        best_reward: float = 0.0,
        **kwargs: Any,
    ) -> TunerResponse:
        self._asked += 1
        if self._asked <= self.random_first or (self.random_share and self._rng.random() < self.random_share):
            config = self._cs.sample_configuration()
            return TunerResponse(parameters=from_configspace_values(self.space, config), justification="random")
        if not self._exhausted:
            try:
                values, why = self._ask()
            except StopIteration:
                self._exhausted = True
            else:
                return TunerResponse(parameters=from_configspace_values(self.space, values), justification=why)
        return self.repeat_best(f"{self.label} found no new configuration")

    def best_parameters(self) -> Optional[dict[str, Value]]:
        """The measured configuration the model predicts best (``None`` before any window scored)."""
        if not self._costs:
            return None
        configs = [dict(key) for key in self._costs]
        means = [statistics.fmean(costs) for costs in self._costs.values()]
        predicted = self._forest_costs(configs, means) if len(configs) >= PICK_MIN_CONFIGS else means
        best = min(range(len(configs)), key=lambda i: (predicted[i], means[i]))
        return from_configspace_values(self.space, configs[best])

    def _forest_costs(self, configs: list[dict[str, Any]], means: list[float]) -> list[float]:
        """Each configuration's cost as predicted by a forest fitted to all of them (SMAC's model)."""
        np = optional_import("numpy", self.extra or "")
        cs_mod = optional_import("ConfigSpace", self.extra or "")
        rf = optional_import("smac.model.random_forest", self.extra or "")
        model = rf.RandomForest(self._cs, ratio_features=1.0, min_samples_split=2 * PICK_LEAF,
                                min_samples_leaf=PICK_LEAF, max_leaf_nodes=None, n_trees=10, seed=self.seed,
                                n_jobs=1)
        x = np.array([cs_mod.Configuration(self._cs, values=c).get_array() for c in configs])
        y = np.array(means, dtype=float).reshape(-1, 1)
        mean, _ = model.train(x, y).predict(x)
        return [float(v) for v in mean.ravel()]

    def describe(self) -> dict[str, Any]:
        return {**self.settings, "knobs": len(self.space)}
