"""Bayesian optimisation with SMAC3 (ask/tell, no target function).

SMAC's hyperparameter-optimisation facade: a random forest surrogate on log-scaled costs,
log expected improvement maximised by local + sorted random search, a small Sobol initial
design and a share of interleaved random configurations. One window per configuration
(``max_config_calls=1``) and a model refit after every window (``retrain_after=1``), so each
suggestion uses everything seen so far, while the forest and a bounded acquisition search
(:mod:`sematune.tuners._smac`) keep it fast as the history grows (a Gaussian process took
about 2 s per suggestion after 10 windows on a small VM).

What SMAC is told: every observed window, as ``cost = -reward`` against the configuration the
kernel really held (read back) — the baseline window first. A configuration measured twice
(e.g. extra baseline windows) is told the mean of its costs. A failed window is told as
``CRASHED`` with the worst cost seen so far (see :mod:`sematune.tuners._learning`).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any, Mapping, Optional

from sematune._imports import optional_import
from sematune.osparams.base import Value
from sematune.targets.base import BenchmarkMetrics
from sematune.tuners._configspace import build_configspace, from_configspace_values, to_configspace_values
from sematune.tuners._learning import LearningTuner, check, derived_seed, is_int, is_number
from sematune.tuners._smac import SmacBudget
from sematune.tuners.base import Observation, TunerResponse

log = logging.getLogger(__name__)


class BayesianTuner(LearningTuner):
    """SMAC3 ``HyperparameterOptimizationFacade`` driven window by window."""

    extra = "bayesian"
    label = "bayesian"

    def __init__(
        self,
        *,
        n_trials: int = 30,
        n_initial: int = 5,
        random_probability: float = 0.1,
        n_trees: int = 10,
        challengers: Optional[int] = None,
        local_search_iterations: Optional[int] = None,
        local_search_max_steps: Optional[int] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check("n_trials", is_int(n_trials) and n_trials >= 1, f"must be an integer >= 1, got {n_trials!r}")
        check("n_initial", is_int(n_initial) and n_initial >= 0, f"must be an integer >= 0, got {n_initial!r}")
        check("random_probability", is_number(random_probability) and 0 <= random_probability <= 1,
              f"must be a probability in [0, 1], got {random_probability!r}")
        budget = SmacBudget(n_trees, challengers, local_search_iterations, local_search_max_steps).for_space(
            len(self.space))
        self.settings = {"n_trials": n_trials, "n_initial": n_initial,
                         "random_probability": float(random_probability), **budget.describe()}
        smac = optional_import("smac", "bayesian")
        self._rh = optional_import("smac.runhistory", "bayesian")
        self._cs_mod = optional_import("ConfigSpace", "bayesian")
        logging.getLogger("smac").setLevel(logging.WARNING)
        self._cs = build_configspace(self.space, self.seed, "bayesian")
        self._outdir = tempfile.mkdtemp(prefix="sematune-smac-")
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._outdir, True)
        facade = smac.HyperparameterOptimizationFacade
        scenario = smac.Scenario(
            self._cs,
            name="sematune",
            output_directory=Path(self._outdir),
            deterministic=True,
            n_trials=n_trials + 1,  # the tuning windows plus the baseline window
            seed=derived_seed(self.seed),
        )
        self._smac = facade(
            scenario,
            model=budget.random_forest(self._cs, seed=scenario.seed, extra="bayesian"),
            acquisition_maximizer=budget.acquisition_maximizer(self._cs, seed=scenario.seed, extra="bayesian"),
            initial_design=facade.get_initial_design(scenario, n_configs=n_initial, max_ratio=1.0,
                                                     additional_configs=[]),
            random_design=facade.get_random_design(scenario, probability=float(random_probability)),
            intensifier=facade.get_intensifier(scenario, max_config_calls=1),
            config_selector=facade.get_config_selector(scenario, retrain_after=1),
            logging_level=False,
            overwrite=True,
        )
        self._pending: Any = None
        self._trial_seed: Optional[int] = None
        self._exhausted = False

    # -- learning ---------------------------------------------------------------------------
    def _learn(self, observation: Observation) -> None:
        values = to_configspace_values(self.space, observation.parameters, self._cs)
        cost = self.mean_cost(values, observation)
        if values is None or cost is None:
            return
        config = self._cs_mod.Configuration(self._cs, values=values)
        pending, self._pending = self._pending, None
        if pending is not None and pending.config == config:
            info = pending
        else:  # the baseline, or the kernel held something else than SMAC asked for
            if self._trial_seed is None:
                self._trial_seed = self._smac.scenario.seed
            info = self._rh.TrialInfo(config=config, seed=self._trial_seed)
        status = self._rh.StatusType.SUCCESS if observation.reward is not None else self._rh.StatusType.CRASHED
        value = self._rh.TrialValue(cost=cost, status=status,
                                    additional_info={"window": observation.window, "phase": observation.phase})
        self._smac.tell(info, value, save=False)

    def suggest_parameters(
        self,
        metrics: Optional[BenchmarkMetrics],
        current_params: Mapping[str, Value],
        iteration: int,
        best_reward: float = 0.0,
        **kwargs: Any,
    ) -> TunerResponse:
        if not self._exhausted:
            try:
                info = self._smac.ask()
            except StopIteration:
                self._exhausted = True
            else:
                if self._trial_seed is None:
                    self._trial_seed = info.seed
                self._pending = info
                return TunerResponse(parameters=from_configspace_values(self.space, info.config),
                                     justification=f"SMAC: {info.config.origin or 'model'}")
        return self.repeat_best("SMAC found no new configuration (search space exhausted)")

    def describe(self) -> dict[str, Any]:
        return {**self.settings, "facade": "HyperparameterOptimizationFacade", "knobs": len(self.space)}

    def close(self) -> None:
        super().close()
        self._cleanup()
