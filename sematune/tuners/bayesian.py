"""Bayesian optimisation with SMAC3 (ask/tell, no target function).

SMAC's hyperparameter-optimisation facade: a random forest surrogate on log-scaled costs,
log expected improvement maximised by local + sorted random search, a Sobol initial design
and a share of interleaved random configurations. One window per configuration
(``max_config_calls=1``) and a model refit after every window (``retrain_after=1``), so each
suggestion uses everything seen so far, while the forest and a bounded acquisition search
(:mod:`sematune.tuners._smac`) keep it fast as the history grows (a Gaussian process took
about 2 s per suggestion after 10 windows on a small VM).

The initial design and the random share scale with the knob count when left ``null``
(:class:`~sematune.tuners._smac.InitialDesign`): on large knob sets of which few matter, a
forest fitted to a handful of points exploits inert knobs, and random search wins.

What SMAC is told, and what it offers at the end, is the ask/tell base's
(:mod:`sematune.tuners._asktell`); a failed window is told as ``CRASHED``.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any, Mapping, Optional

from sematune._imports import optional_import
from sematune.tuners._asktell import AskTellTuner
from sematune.tuners._learning import derived_seed
from sematune.tuners._smac import InitialDesign, SmacBudget
from sematune.tuners.base import Observation

log = logging.getLogger(__name__)


class BayesianTuner(AskTellTuner):
    """SMAC3 ``HyperparameterOptimizationFacade`` driven window by window."""

    extra = "bayesian"
    label = "bayesian"

    def __init__(
        self,
        *,
        n_trials: int = 30,
        n_initial: Optional[int] = None,
        random_probability: Optional[float] = None,
        n_trees: int = 10,
        challengers: Optional[int] = None,
        local_search_iterations: Optional[int] = None,
        local_search_max_steps: Optional[int] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(n_trials=n_trials, **kwargs)
        design = InitialDesign.checked(n_initial, random_probability).for_space(len(self.space), n_trials)
        budget = SmacBudget(n_trees, challengers, local_search_iterations, local_search_max_steps).for_space(
            len(self.space))
        self.settings = {"n_trials": n_trials, "n_initial": design.n_initial,
                         "random_probability": design.random_probability, **budget.describe()}
        smac = optional_import("smac", "bayesian")
        self._rh = optional_import("smac.runhistory", "bayesian")
        self._cs_mod = optional_import("ConfigSpace", "bayesian")
        logging.getLogger("smac").setLevel(logging.WARNING)
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
            initial_design=facade.get_initial_design(scenario, n_configs=design.n_initial, max_ratio=1.0,
                                                     additional_configs=[]),
            random_design=facade.get_random_design(scenario, probability=design.random_probability),
            intensifier=facade.get_intensifier(scenario, max_config_calls=1),
            config_selector=facade.get_config_selector(scenario, retrain_after=1),
            logging_level=False,
            overwrite=True,
        )
        self._pending: Any = None
        self._trial_seed: Optional[int] = None

    def _tell(self, values: dict[str, Any], cost: float, observation: Observation) -> None:
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

    def _ask(self) -> tuple[Mapping[str, Any], str]:
        info = self._smac.ask()  # StopIteration when SMAC has nothing new (a tiny, exhausted space)
        if self._trial_seed is None:
            self._trial_seed = info.seed
        self._pending = info
        return info.config, f"SMAC: {info.config.origin or 'model'}"

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "facade": "HyperparameterOptimizationFacade"}

    def close(self) -> None:
        super().close()
        self._cleanup()
