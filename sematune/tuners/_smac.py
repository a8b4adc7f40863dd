"""SMAC3 pipeline parts shared by the ``bayesian`` and ``mlos`` tuners: a lean forest and search.

SMAC's hyperparameter-optimisation facade builds its random forest with ``n_jobs=-1`` (a
joblib pool per prediction) and ``max_leaf_nodes=2**20`` (sklearn's best-first builder,
which allocates for a million leaves on every fit): on a small VM that costs seconds per
suggestion after a dozen windows. :class:`SmacBudget` builds the same model — bootstrapped
trees on log-scaled costs, all features — without those costs, and a local + sorted random
search whose budget (random challengers, local-search starts and steps) comes from config.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Optional

from sematune._imports import optional_import
from sematune.validate import is_int, is_number, require

#: Knob count above which the acquisition search gets the small budget (its cost grows with knobs).
LARGE_SPACE = 16
#: (challengers, local_search_iterations, local_search_max_steps) for small and large knob sets.
SMALL_SPACE_BUDGET = (1000, 5, 20)
LARGE_SPACE_BUDGET = (300, 3, 10)
#: SMAC's (initial random configurations, random share after them) up to LARGE_SPACE knobs and above.
SMAC_DESIGN = {"small": (5, 0.1), "large": (5, 0.7)}
#: FLAML's, whatever the knob count (it has no random design of its own; see the mlos tuner).
FLAML_DESIGN = (12, 0.5)


@dataclass(frozen=True)
class InitialDesign:
    """Random configurations before the model takes over, and the share of random ones after.

    ``None`` is filled in per optimiser: SMAC gets 5 and 0.1 up to :data:`LARGE_SPACE` knobs and a
    random share of 0.7 above, because with ~50 windows a forest over many inert knobs settles
    on a poor region; FLAML gets 12 and 0.5 on any knob set (measured on 8 and 54 knobs with
    ``benchmarks/tuners_regret.py``, see docs/performance.md "Tuners").
    """

    n_initial: Optional[int] = None
    random_probability: Optional[float] = None

    @classmethod
    def checked(cls, n_initial: Any, random_probability: Any,
                keys: tuple[str, str] = ("n_initial", "random_probability")) -> "InitialDesign":
        """Validated settings; errors name ``tuner.<keys[i]>`` (the tuner's own config keys)."""
        require(f"tuner.{keys[0]}", n_initial is None or (is_int(n_initial) and n_initial >= 0),
                f"must be null or an integer >= 0, got {n_initial!r}")
        require(f"tuner.{keys[1]}",
                random_probability is None or (is_number(random_probability) and 0 <= random_probability <= 1),
                f"must be null or a probability in [0, 1], got {random_probability!r}")
        return cls(n_initial, None if random_probability is None else float(random_probability))

    def for_space(self, knobs: int, n_trials: int, optimizer: str = "smac") -> "InitialDesign":
        """This design with every ``None`` filled in for ``knobs`` knobs (at most ``n_trials`` points)."""
        if optimizer == "flaml":
            auto_init, auto_p = FLAML_DESIGN
        else:
            auto_init, auto_p = SMAC_DESIGN["large" if knobs > LARGE_SPACE else "small"]
        n_initial = min(auto_init if self.n_initial is None else self.n_initial, n_trials)
        return InitialDesign(n_initial, auto_p if self.random_probability is None else self.random_probability)


@dataclass(frozen=True)
class SmacBudget:
    """Surrogate size and acquisition-search budget (validated; keys are ``tuner.<field>``).

    ``None`` search settings are filled from the knob count: sampling and neighbourhoods cost
    time in proportion to the knobs, so above :data:`LARGE_SPACE` knobs the search is smaller
    (measured in ``benchmarks/tuners_regret.py``: under a second per suggestion at 54 knobs).
    """

    n_trees: int = 10
    challengers: Optional[int] = None
    local_search_iterations: Optional[int] = None
    local_search_max_steps: Optional[int] = None

    def __post_init__(self) -> None:
        for key, value in asdict(self).items():
            require(f"tuner.{key}", value is None or (is_int(value) and value >= 1),
                    f"must be null or an integer >= 1, got {value!r}")

    def for_space(self, knobs: int) -> "SmacBudget":
        """This budget with every ``None`` filled in for a space of ``knobs`` knobs."""
        auto = LARGE_SPACE_BUDGET if knobs > LARGE_SPACE else SMALL_SPACE_BUDGET
        given = (self.challengers, self.local_search_iterations, self.local_search_max_steps)
        filled = [a if g is None else g for g, a in zip(given, auto, strict=True)]
        return SmacBudget(self.n_trees, *filled)

    def describe(self) -> dict[str, Any]:
        return asdict(self)

    def random_forest(self, configspace: Any, *, seed: int, extra: str) -> Any:
        """SMAC's ``RandomForest`` as the HPO facade configures it, computed in-thread."""
        rf = optional_import("smac.model.random_forest", extra)
        return rf.RandomForest(
            configspace,
            log_y=True,
            n_trees=self.n_trees,
            ratio_features=1.0,
            min_samples_split=2,
            min_samples_leaf=1,
            max_leaf_nodes=None,
            bootstrapping=True,
            seed=seed,
            n_jobs=1,
        )

    def acquisition_maximizer(self, configspace: Any, *, seed: int, extra: str) -> Any:
        """Local search from the best points plus sorted random search."""
        maximizer = optional_import("smac.acquisition.maximizer", extra)
        return maximizer.LocalAndSortedRandomSearch(
            configspace,
            challengers=self.challengers,
            local_search_iterations=self.local_search_iterations,
            max_steps=self.local_search_max_steps,
            seed=seed,
        )
