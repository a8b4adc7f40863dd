"""MLOS: mlos-core's optimizers (SMAC by default, FLAML or random) behind ``OptimizerFactory``.

Every observed window is registered — the baseline, the optimizer's random-init points and
any configuration it did not suggest — as ``score = -reward`` against the configuration the
kernel really held (read back). A configuration measured twice is registered with the mean
score; a failed window with the worst score seen (see :mod:`sematune.tuners._learning`).

``space_adapter: llamatune`` searches a random low-dimensional projection of the knob space
(HeSBO, ``num_low_dims`` dimensions, values bucketised to ``max_unique_values_per_param``)
— meant for large knob sets. Its approximate reverse mapping is always on, so that windows
the optimizer did not suggest (the baseline, read-back values) can be registered too.

With the SMAC backend, ``fast_model: true`` swaps mlos-core's stock forest and acquisition
search for the lean ones of :mod:`sematune.tuners._smac` (same model, bounded search), which
keeps a suggestion well under a second on large knob sets; ``false`` keeps mlos-core's own.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Mapping, Optional

from sematune._imports import optional_import
from sematune.osparams.base import Value
from sematune.targets.base import BenchmarkMetrics
from sematune.tuners._configspace import build_configspace, from_configspace_values, to_configspace_values
from sematune.tuners._learning import LearningTuner, check, derived_seed, is_int, is_number
from sematune.tuners._smac import SmacBudget
from sematune.tuners.base import Observation, TunerResponse

log = logging.getLogger(__name__)

OPTIMIZERS = ("smac", "flaml", "random")
ADAPTERS = ("identity", "llamatune")
_SCORE = "score"


class MlosTuner(LearningTuner):
    """An mlos-core optimizer driven window by window (suggest → measure → register)."""

    extra = "mlos"
    label = "mlos"

    def __init__(
        self,
        *,
        optimizer: str = "smac",
        n_trials: int = 30,
        n_random_init: int = 5,
        n_random_probability: float = 0.1,
        space_adapter: Optional[str] = None,
        num_low_dims: int = 16,
        max_unique_values_per_param: Optional[int] = 10000,
        fast_model: bool = True,
        n_trees: int = 10,
        challengers: Optional[int] = None,
        local_search_iterations: Optional[int] = None,
        local_search_max_steps: Optional[int] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        adapter = (space_adapter or "identity").lower() if isinstance(space_adapter, (str, type(None))) else None
        check("optimizer", isinstance(optimizer, str) and optimizer.lower() in OPTIMIZERS,
              f"must be one of {list(OPTIMIZERS)}, got {optimizer!r}")
        check("space_adapter", adapter in ADAPTERS, f"must be null or one of {list(ADAPTERS)}, got {space_adapter!r}")
        check("n_trials", is_int(n_trials) and n_trials >= 1, f"must be an integer >= 1, got {n_trials!r}")
        check("n_random_init", is_int(n_random_init) and n_random_init >= 0,
              f"must be an integer >= 0, got {n_random_init!r}")
        check("n_random_probability", is_number(n_random_probability) and 0 <= n_random_probability <= 1,
              f"must be a probability in [0, 1], got {n_random_probability!r}")
        check("fast_model", isinstance(fast_model, bool), f"must be true or false, got {fast_model!r}")
        if adapter == "llamatune":
            check("num_low_dims", is_int(num_low_dims) and 1 <= num_low_dims < len(self.space),
                  f"must be an integer in [1, {len(self.space) - 1}] (fewer than the {len(self.space)} knobs), "
                  f"got {num_low_dims!r}")
            check("max_unique_values_per_param",
                  max_unique_values_per_param is None or (is_int(max_unique_values_per_param)
                                                          and max_unique_values_per_param >= 2),
                  f"must be null or an integer >= 2, got {max_unique_values_per_param!r}")
        searched = num_low_dims if adapter == "llamatune" else len(self.space)  # the optimizer's dimensions
        budget = SmacBudget(n_trees, challengers, local_search_iterations, local_search_max_steps).for_space(searched)
        self.optimizer_name = optimizer.lower()
        self.adapter_name = adapter
        self.settings: dict[str, Any] = {
            "optimizer": self.optimizer_name, "space_adapter": adapter, "n_trials": n_trials,
        }
        if self.optimizer_name == "smac":
            self.settings.update(n_random_init=n_random_init, n_random_probability=float(n_random_probability),
                                 fast_model=fast_model, **(budget.describe() if fast_model else {}))
        if adapter == "llamatune":
            self.settings.update(num_low_dims=num_low_dims, max_unique_values_per_param=max_unique_values_per_param)

        optimizers = optional_import("mlos_core.optimizers", "mlos")
        self._data = optional_import("mlos_core.data_classes", "mlos")
        self._pd = optional_import("pandas", "mlos")
        logging.getLogger("smac").setLevel(logging.WARNING)
        seed = derived_seed(self.seed)
        self._cs = cs = build_configspace(self.space, seed, "mlos")
        kwargs_by_type: dict[str, dict[str, Any]] = {
            "smac": {
                "seed": seed, "run_name": "sematune", "max_trials": n_trials + 1,
                "n_random_init": min(n_random_init, n_trials), "max_ratio": 1.0,
                "n_random_probability": float(n_random_probability),
            },
            "flaml": {"seed": seed},
            "random": {},
        }
        adapter_kwargs: dict[str, Any] = {}
        if adapter == "llamatune":
            adapter_kwargs = {"num_low_dims": num_low_dims, "use_approximate_reverse_mapping": True,
                              "max_unique_values_per_param": max_unique_values_per_param}
        self._opt = optimizers.OptimizerFactory.create(
            parameter_space=cs,
            optimization_targets=[_SCORE],
            optimizer_type=getattr(optimizers.OptimizerType, self.optimizer_name.upper()),
            optimizer_kwargs=kwargs_by_type[self.optimizer_name],
            space_adapter_type=getattr(optimizers.SpaceAdapterType, adapter.upper()),
            space_adapter_kwargs=adapter_kwargs,
        )
        if self.optimizer_name == "smac" and fast_model:
            self._use_lean_smac(budget, seed)
        self._exhausted = False

    def _use_lean_smac(self, budget: SmacBudget, seed: int) -> None:
        """Swap the SMAC facade's forest (public ``SMBO.update_model``) and acquisition search."""
        facade = self._opt.base_optimizer
        space = facade.scenario.configspace
        facade.optimizer.update_model(budget.random_forest(space, seed=seed, extra="mlos"))
        selector = facade._config_selector  # mlos-core 0.6 / SMAC 2.x: no public setter for the maximizer
        maximizer = budget.acquisition_maximizer(space, seed=seed, extra="mlos")
        maximizer.acquisition_function = selector._acquisition_function
        selector._acquisition_maximizer = maximizer

    # -- learning ---------------------------------------------------------------------------
    def _learn(self, observation: Observation) -> None:
        values = to_configspace_values(self.space, observation.parameters, self._cs)
        cost = self.mean_cost(values, observation)
        if values is None or cost is None:
            return
        pd = self._pd
        config = pd.Series(values, dtype=object)
        with warnings.catch_warnings():  # both are expected here: repeats carry the mean score, and
            # llamatune maps unsuggested windows (the baseline, read-back values) back approximately
            warnings.filterwarnings("ignore", message="(?s).*(already registered|not previously suggested)")
            self._opt.register(observations=self._data.Observation(config=config, score=pd.Series({_SCORE: cost})))

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
                suggestion = self._opt.suggest()
            except StopIteration:
                self._exhausted = True
            else:
                values = from_configspace_values(self.space, suggestion.config.to_dict())
                return TunerResponse(parameters=values, justification=f"mlos-core {type(self._opt).__name__}"
                                     + (f" via {self.adapter_name}" if self.adapter_name != "identity" else ""))
        return self.repeat_best(f"mlos-core {self.optimizer_name} found no new configuration")

    def describe(self) -> dict[str, Any]:
        return {**self.settings, "knobs": len(self.space)}

    def close(self) -> None:
        super().close()
        self._opt.cleanup()
