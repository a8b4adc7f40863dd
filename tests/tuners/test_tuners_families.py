"""The family bases: what the ask/tell tuners (bayesian, mlos) share, and how mlos differs."""

from __future__ import annotations

import pytest

from sematune.errors import ConfigError
from sematune.osparams import ParameterSpace
from sematune.tuners._smac import InitialDesign
from tests.tuners.support import feed, objective_of, observation, tuner_class
from tests.tuners.test_tuners_contract import assert_in_domain, make


def test_mlos_defaults_to_flaml_and_proposes_differently_from_bayesian(space: ParameterSpace) -> None:
    mlos = tuner_class("mlos")(space=space, goal="maximize", seed=4, n_trials=12, n_random_init=4)
    bayesian = tuner_class("bayesian")(space=space, goal="maximize", seed=4, n_trials=12, challengers=200)
    try:
        assert mlos.describe()["optimizer"] == "flaml"
        ours, theirs = feed(mlos, space, 10), feed(bayesian, space, 10)
        for proposal in ours:
            assert_in_domain(space, proposal)
        assert sum(a != b for a, b in zip(ours, theirs, strict=True)) >= 8
        # after the random start FLAML itself proposes
        assert any("FlamlOptimizer" in r.justification for r in _responses(mlos, space))
    finally:
        mlos.close()
        bayesian.close()


def _responses(tuner, space: ParameterSpace):
    current = space.read_all()
    return [tuner.suggest_parameters(None, current, 100 + i) for i in range(5)]


def test_mlos_smac_with_llamatune_stays_in_domain(space: ParameterSpace) -> None:
    tuner = make("mlos", space, optimizer="smac", space_adapter="llamatune", num_low_dims=2, seed=5)
    try:
        proposals = feed(tuner, space, 9)
        for proposal in proposals:
            assert_in_domain(space, proposal)
        assert tuner.describe()["space_adapter"] == "llamatune"
        assert len({tuple(sorted(p.items())) for p in proposals}) >= 5
    finally:
        tuner.close()


@pytest.mark.parametrize("name", ["bayesian", "mlos"])
def test_best_parameters_prefers_the_mean_over_a_lucky_window(name: str, space: ParameterSpace) -> None:
    """A configuration measured 150 then 50 (mean 100) loses to one measured 120 once."""
    tuner = make(name, space)
    try:
        base = space.read_all()
        lucky = {**base, "vm_dirty_ratio": 30}
        steady = {**base, "vm_dirty_ratio": 50}
        assert tuner.best_parameters() is None
        for window, (config, value) in enumerate([(base, 90.0), (lucky, 150.0), (steady, 120.0), (lucky, 50.0)]):
            tuner.observe(observation(window, "tuning", config, value))
        assert tuner.best_observation().parameters["vm_dirty_ratio"] == 30  # the best single window
        assert tuner.best_parameters()["vm_dirty_ratio"] == 50
    finally:
        tuner.close()


@pytest.mark.parametrize("name", ["bayesian", "mlos"])
def test_best_parameters_is_a_measured_configuration_the_forest_rates_well(name: str, space: ParameterSpace) -> None:
    tuner = make(name, space, seed=8)
    try:
        feed(tuner, space, 14)
        offered = tuner.best_parameters()
        assert_in_domain(space, offered)
        measured = [dict(o.parameters) for o in tuner.history]
        assert offered in measured
        ranked = sorted(measured, key=objective_of, reverse=True)
        assert ranked.index(offered) < len(ranked) // 2  # in the better half of what was measured
    finally:
        tuner.close()


def test_initial_design_scales_with_the_knob_count() -> None:
    assert InitialDesign().for_space(8, 50) == InitialDesign(5, 0.1)
    assert InitialDesign().for_space(54, 50) == InitialDesign(5, 0.7)
    assert InitialDesign().for_space(54, 50, "flaml") == InitialDesign(12, 0.5)
    assert InitialDesign().for_space(8, 50, "flaml") == InitialDesign(12, 0.5)
    assert InitialDesign().for_space(54, 6, "flaml") == InitialDesign(6, 0.5)  # never more than the budget
    assert InitialDesign(3, 0.2).for_space(54, 50) == InitialDesign(3, 0.2)  # explicit settings win
    with pytest.raises(ConfigError) as err:
        InitialDesign.checked(1, 2.0, keys=("n_random_init", "n_random_probability"))
    assert err.value.key == "tuner.n_random_probability"


def test_grid_tuners_share_settings_and_describe_alike(space: ParameterSpace) -> None:
    keys = {"grid_points", "actions", "discount", "epsilon_start", "epsilon_end", "epsilon_decay", "knobs"}
    for name in ("qlearning", "dqn"):
        tuner = make(name, space, grid_points=4)
        try:
            assert keys <= set(tuner.describe())
            assert tuner.describe()["grid_points"] == 4
            assert len(feed(tuner, space, 3)) == 3
        finally:
            tuner.close()
