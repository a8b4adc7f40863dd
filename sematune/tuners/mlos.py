"""MLOS: mlos-core's optimizers behind ``OptimizerFactory`` — FLAML by default, SMAC, or random.

What MLOS brings over the ``bayesian`` tuner (plain SMAC3):

* ``optimizer: flaml`` (default, mlos-core's own default optimizer): FLAML's cost-frugal
  search (CFO), a randomised local search that starts from the best configuration seen and
  moves all knobs at once along random directions, adapting its step size — no surrogate,
  so nothing to mislead it when most knobs are inert. mlos-core warm-starts a fresh FLAML
  search from every registered window for each suggestion.
* ``space_adapter: llamatune``: the optimizer searches a ``num_low_dims``-dimensional random
  projection of the knob space (HeSBO, values bucketised to ``max_unique_values_per_param``)
  — meant for large knob sets. Its approximate reverse mapping is always on, so that windows
  the optimizer did not suggest (the baseline, read-back values) can be registered too.
* ``optimizer: smac``: mlos-core's SMAC wrapper; ``fast_model: true`` swaps its stock forest
  and acquisition search for the lean ones of :mod:`sematune.tuners._smac` (same model,
  bounded search), which keeps a suggestion well under a second on large knob sets.

What is registered, and what it offers at the end, is the ask/tell base's
(:mod:`sematune.tuners._asktell`): ``score = -reward`` for every window.
"""

from __future__ import annotations

import importlib
import logging
import sys
import warnings
from typing import Any, Mapping, Optional

from sematune._imports import optional_import
from sematune.tuners._asktell import AskTellTuner
from sematune.tuners._learning import derived_seed
from sematune.tuners._smac import InitialDesign, SmacBudget
from sematune.tuners.base import Observation
from sematune.validate import is_int, require

log = logging.getLogger(__name__)

OPTIMIZERS = ("smac", "flaml", "random")
ADAPTERS = ("identity", "llamatune")
_SCORE = "score"


def _import_flaml_without_ray() -> None:
    """Import FLAML with ``ray`` hidden, once per process.

    FLAML switches to Ray Tune's searchers whenever ``import ray`` works (a Ray worker, or
    ``sematune[ray]`` installed); those need optuna >= 3, while the FLAML that mlos-core pins runs
    its own bundled searchers on optuna 2.8. Hidden, FLAML takes its own, with or without Ray.
    """
    if "flaml.tune" in sys.modules:
        return
    shadowed = sys.modules.get("ray")
    sys.modules["ray"] = None  # type: ignore[assignment]  # `import ray` → ImportError while FLAML loads
    try:
        for module in ("flaml.tune", "flaml.tune.searcher.blendsearch", "mlos_core.spaces.converters.flaml"):
            try:
                importlib.import_module(module)
            except ImportError:  # the mlos extra is missing: optional_import below says so
                return
    finally:
        if shadowed is None:
            sys.modules.pop("ray", None)
        else:
            sys.modules["ray"] = shadowed


class MlosTuner(AskTellTuner):
    """An mlos-core optimizer driven window by window (suggest → measure → register)."""

    extra = "mlos"
    label = "mlos"

    def __init__(
        self,
        *,
        optimizer: str = "flaml",
        n_trials: int = 30,
        n_random_init: Optional[int] = None,
        n_random_probability: Optional[float] = None,
        space_adapter: Optional[str] = None,
        num_low_dims: int = 16,
        max_unique_values_per_param: Optional[int] = 10000,
        fast_model: bool = True,
        n_trees: int = 10,
        challengers: Optional[int] = None,
        local_search_iterations: Optional[int] = None,
        local_search_max_steps: Optional[int] = None,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(n_trials=n_trials, seed=seed, space_seed=derived_seed(seed), **kwargs)
        adapter = (space_adapter or "identity").lower() if isinstance(space_adapter, (str, type(None))) else None
        require("tuner.optimizer", isinstance(optimizer, str) and optimizer.lower() in OPTIMIZERS,
                f"must be one of {list(OPTIMIZERS)}, got {optimizer!r}")
        require("tuner.space_adapter", adapter in ADAPTERS,
                f"must be null or one of {list(ADAPTERS)}, got {space_adapter!r}")
        require("tuner.fast_model", isinstance(fast_model, bool), f"must be true or false, got {fast_model!r}")
        if adapter == "llamatune":
            require("tuner.num_low_dims", is_int(num_low_dims) and 1 <= num_low_dims < len(self.space),
                    f"must be an integer in [1, {len(self.space) - 1}] (fewer than the {len(self.space)} knobs), "
                    f"got {num_low_dims!r}")
            require("tuner.max_unique_values_per_param",
                    max_unique_values_per_param is None or (is_int(max_unique_values_per_param)
                                                            and max_unique_values_per_param >= 2),
                    f"must be null or an integer >= 2, got {max_unique_values_per_param!r}")
        searched = num_low_dims if adapter == "llamatune" else len(self.space)  # the optimizer's dimensions
        design = InitialDesign.checked(n_random_init, n_random_probability, keys=("n_random_init", "n_random_probability"))
        design = design.for_space(searched, n_trials, "flaml" if optimizer.lower() == "flaml" else "smac")
        budget = SmacBudget(n_trees, challengers, local_search_iterations, local_search_max_steps).for_space(searched)
        self.optimizer_name = optimizer.lower()
        self.adapter_name = adapter
        self.settings = {"optimizer": self.optimizer_name, "space_adapter": adapter, "n_trials": n_trials}
        self.settings.update(n_random_init=design.n_initial, n_random_probability=design.random_probability)
        if self.optimizer_name == "smac":
            self.settings.update(fast_model=fast_model, **(budget.describe() if fast_model else {}))
        elif self.optimizer_name == "flaml":  # SMAC has its own random design; FLAML gets the base's
            self.interleave_random(design.n_initial, design.random_probability)
        if adapter == "llamatune":
            self.settings.update(num_low_dims=num_low_dims, max_unique_values_per_param=max_unique_values_per_param)

        _import_flaml_without_ray()
        optimizers = optional_import("mlos_core.optimizers", "mlos")
        self._data = optional_import("mlos_core.data_classes", "mlos")
        self._pd = optional_import("pandas", "mlos")
        logging.getLogger("smac").setLevel(logging.WARNING)
        seed = derived_seed(self.seed)
        kwargs_by_type: dict[str, dict[str, Any]] = {
            "smac": {
                "seed": seed, "run_name": "sematune", "max_trials": n_trials + 1,
                "n_random_init": design.n_initial, "max_ratio": 1.0,
                "n_random_probability": design.random_probability,
            },
            "flaml": {"seed": seed},
            "random": {},
        }
        adapter_kwargs: dict[str, Any] = {}
        if adapter == "llamatune":
            adapter_kwargs = {"num_low_dims": num_low_dims, "use_approximate_reverse_mapping": True,
                              "max_unique_values_per_param": max_unique_values_per_param}
        self._opt = optimizers.OptimizerFactory.create(
            parameter_space=self._cs,
            optimization_targets=[_SCORE],
            optimizer_type=getattr(optimizers.OptimizerType, self.optimizer_name.upper()),
            optimizer_kwargs=kwargs_by_type[self.optimizer_name],
            space_adapter_type=getattr(optimizers.SpaceAdapterType, adapter.upper()),
            space_adapter_kwargs=adapter_kwargs,
        )
        if self.optimizer_name == "smac" and fast_model:
            self._use_lean_smac(budget, seed)

    def _use_lean_smac(self, budget: SmacBudget, seed: int) -> None:
        """Swap the SMAC facade's forest (public ``SMBO.update_model``) and acquisition search."""
        facade = self._opt.base_optimizer
        space = facade.scenario.configspace
        facade.optimizer.update_model(budget.random_forest(space, seed=seed, extra="mlos"))
        selector = facade._config_selector  # mlos-core 0.6 / SMAC 2.x: no public setter for the maximizer
        maximizer = budget.acquisition_maximizer(space, seed=seed, extra="mlos")
        maximizer.acquisition_function = selector._acquisition_function
        selector._acquisition_maximizer = maximizer

    def _tell(self, values: dict[str, Any], cost: float, observation: Observation) -> None:
        pd = self._pd
        config = pd.Series(values, dtype=object)
        with warnings.catch_warnings():  # both are expected here: repeats carry the mean score, and
            # llamatune maps unsuggested windows (the baseline, read-back values) back approximately
            warnings.filterwarnings("ignore", message="(?s).*(already registered|not previously suggested)")
            self._opt.register(observations=self._data.Observation(config=config, score=pd.Series({_SCORE: cost})))

    def _ask(self) -> tuple[Mapping[str, Any], str]:
        suggestion = self._opt.suggest()
        why = f"mlos-core {type(self._opt).__name__}" + (
            f" via {self.adapter_name}" if self.adapter_name != "identity" else "")
        return suggestion.config.to_dict(), why

    def close(self) -> None:
        super().close()
        self._opt.cleanup()
