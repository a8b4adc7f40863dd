"""Every learning tuner: in-domain proposals, reward sign, bad settings, determinism, failures."""

from __future__ import annotations

import sys

import pytest

from sematune.errors import ConfigError
from sematune.osparams import ParameterSpace
from sematune.osparams.base import Value
from tests.tuners.support import TUNERS, feed, objective_of, observation, tuner_class

NAMES = list(TUNERS)
#: Small budgets so the model-based tuners get past their initial design within a short feed.
FAST = {
    "bayesian": {"n_trials": 20, "n_initial": 3, "challengers": 200},
    "mlos": {"n_trials": 20, "n_random_init": 3},  # FLAML by default: no SMAC acquisition budget
    "qlearning": {},
    "dqn": {"horizon": 20, "train_steps": 2, "hidden": 16},
}


def make(name: str, space: ParameterSpace, goal: str = "maximize", seed: int = 3, **settings):
    return tuner_class(name)(space=space, goal=goal, seed=seed, **{**FAST[name], **settings})


def assert_in_domain(space: ParameterSpace, proposal: dict[str, Value]) -> None:
    assert proposal, "empty proposal"
    for name, value in proposal.items():
        assert name in space.names, f"{name} is not tunable"
        domain = space[name].domain
        assert domain.contains(value), f"{name}={value!r} outside {domain.describe()}"
        if domain.choices is not None:
            assert type(value) is type(next(c for c in domain.choices if c == value)), (name, value)
        else:
            assert type(value) is (int if domain.dtype == "int" else float), (name, value)


@pytest.mark.parametrize("name", NAMES)
def test_proposals_are_tunable_typed_and_in_domain(name: str, space: ParameterSpace) -> None:
    tuner = make(name, space)
    try:
        proposals = feed(tuner, space, 10, fail_at=(4,))  # a failed window (reward None) in the middle
        for proposal in proposals:
            assert_in_domain(space, proposal)
        assert len(tuner.history) == 11
        final = tuner.final_configuration()  # type: ignore[attr-defined]  # what the stable phase freezes
        assert final is not None and set(final) == set(space.names)
        assert_in_domain(space, final)
    finally:
        tuner.close()


#: one non-default setting per tuner, which describe() must report as in use
DESCRIBED = {"bayesian": ("n_trees", 7), "mlos": ("n_random_init", 4), "qlearning": ("learning_rate", 0.3),
             "dqn": ("hidden", 8)}


@pytest.mark.parametrize("name", NAMES)
def test_describe_reports_the_settings_in_use(name: str, space: ParameterSpace) -> None:
    key, value = DESCRIBED[name]
    tuner = make(name, space, **{key: value})
    try:
        described = tuner.describe()
        assert described[key] == value and described["knobs"] == len(space)
        assert all(described[k] == v for k, v in FAST[name].items() if k != key), described
    finally:
        tuner.close()


def test_random_proposals_cover_every_knob_in_domain(space: ParameterSpace) -> None:
    from sematune.tuners.random_search import RandomTuner

    proposals = feed(RandomTuner(space=space, goal="maximize", seed=4), space, 40)
    for proposal in proposals:
        assert set(proposal) == set(space.names)
        assert_in_domain(space, proposal)
    for name in space.names:  # spread over the domain, not stuck at one value
        assert len({p[name] for p in proposals}) >= min(3, len(space[name].domain.choices or range(3))), name
    log_knob = space["vm_min_free_kbytes"].domain  # log-uniform: about half the draws below the geometric mean
    below = sum(p["vm_min_free_kbytes"] < (log_knob.low * log_knob.high) ** 0.5 for p in proposals)
    assert 10 <= below <= 30


def test_fixed_proposes_its_in_domain_values_every_window(space: ParameterSpace) -> None:
    from sematune.tuners.fixed import FixedTuner

    tuner = FixedTuner(space=space, goal="maximize", seed=0,
                       parameters={"vm_dirty_ratio": "12", "thp_enabled": "never", "scale": 3})
    for proposal in feed(tuner, space, 5):
        assert proposal == {"vm_dirty_ratio": 12, "thp_enabled": "never", "scale": 3.0}
        assert_in_domain(space, proposal)
    assert FixedTuner(space=space, goal="maximize", seed=0).suggest_parameters(None, {}, 1).parameters == {}
    with pytest.raises(ConfigError) as err:
        FixedTuner(space=space, goal="maximize", seed=0, parameters={"ratio": 1.5})
    assert err.value.key == "tuner.parameters.ratio"


@pytest.mark.parametrize("name", NAMES)
def test_registers_what_the_kernel_held(name: str, space: ParameterSpace) -> None:
    """Read-back values that differ from the proposal (here: clamped) are learned without errors."""

    def clamp(config: dict[str, Value]) -> dict[str, Value]:
        return {**config, "vm_dirty_ratio": min(int(config["vm_dirty_ratio"]), 40), "ratio": 0.5}

    tuner = make(name, space)
    try:
        for proposal in feed(tuner, space, 8, read_back=clamp):
            assert_in_domain(space, proposal)
    finally:
        tuner.close()


@pytest.mark.parametrize("goal", ["maximize", "minimize"])
@pytest.mark.parametrize("name", NAMES)
def test_reward_sign_follows_the_goal(name: str, goal: str, space: ParameterSpace) -> None:
    """A window that is better for the goal must look better to the learner, whichever the goal."""
    tuner = make(name, space, goal=goal)
    try:
        base = space.read_all()
        worse, better = (200.0, 100.0) if goal == "minimize" else (100.0, 200.0)
        tuner.observe(observation(0, "baseline", base, worse, goal))
        response = tuner.suggest_parameters(None, base, 1)
        moved = {**base, **response.parameters}
        assert moved != base or name in ("qlearning", "dqn")
        tuner.observe(observation(1, "tuning", moved, better, goal))
        signal = learned_signal(name, tuner, base, moved, response.parameters)
        assert signal > 0, f"{name} ({goal}) learned {signal} for a better window"
    finally:
        tuner.close()


def learned_signal(name: str, tuner, base: dict[str, Value], moved: dict[str, Value],
                   proposal: dict[str, Value]) -> float:
    """How much better the learner thinks ``moved`` is than ``base`` (> 0: better)."""
    from sematune.tuners._configspace import to_configspace_values

    if name == "bayesian":
        from ConfigSpace import Configuration

        rh = tuner._smac.runhistory
        cost = {c: rh.get_cost(c) for c in rh.get_configs()}
        a = Configuration(tuner._cs, values=to_configspace_values(tuner.space, base, tuner._cs))
        b = Configuration(tuner._cs, values=to_configspace_values(tuner.space, moved, tuner._cs))
        return cost[a] - cost[b]  # SMAC minimises cost = -reward
    if name == "mlos":
        scores = tuner._opt.get_observations().scores["score"].tolist()
        return scores[0] - scores[1]  # mlos minimises score = -reward
    if name == "qlearning":
        assert len(proposal) == 1  # one knob per window
        return tuner.value(tuner.grid.position(moved))  # the baseline's value is 0
    if name == "dqn":
        return tuner.replay[-1][2]  # the transition's reward, relative to the baseline
    raise AssertionError(name)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_proposals(name: str, space: ParameterSpace) -> None:
    runs = []
    for _ in range(2):
        tuner = make(name, space, seed=11)
        try:
            runs.append(feed(tuner, space, 8))
        finally:
            tuner.close()
    assert runs[0] == runs[1]
    other = make(name, space, seed=12)
    try:
        assert feed(other, space, 8) != runs[0]
    finally:
        other.close()


BAD_SETTINGS = [
    ("bayesian", "n_trials", 0), ("bayesian", "n_initial", -1), ("bayesian", "random_probability", 1.5),
    ("bayesian", "challengers", 0), ("bayesian", "n_trees", "ten"),
    ("mlos", "optimizer", "hyperopt"), ("mlos", "space_adapter", "pca"), ("mlos", "n_random_init", -2),
    ("mlos", "n_random_probability", -0.1), ("mlos", "fast_model", "yes"),
    ("qlearning", "grid_points", 1), ("qlearning", "max_actions", 3), ("qlearning", "learning_rate", 0),
    ("qlearning", "discount", 1.0), ("qlearning", "epsilon_decay", 0), ("qlearning", "epsilon_end", 1.5),
    ("dqn", "grid_points", 1), ("dqn", "max_actions", 10), ("dqn", "batch_size", 0), ("dqn", "device", "tpu"),
    ("dqn", "learning_rate", -1), ("dqn", "discount", 1.5), ("dqn", "horizon", 0),
]


@pytest.mark.parametrize(("name", "key", "value"), BAD_SETTINGS)
def test_bad_settings_name_the_key(name: str, key: str, value, space: ParameterSpace) -> None:
    with pytest.raises(ConfigError) as err:
        make(name, space, **{key: value})
    assert err.value.key == f"tuner.{key}"
    assert "\n" not in str(err.value)


def test_llamatune_needs_fewer_low_dims_than_knobs(space: ParameterSpace) -> None:
    with pytest.raises(ConfigError) as err:
        make("mlos", space, space_adapter="llamatune", num_low_dims=6)
    assert err.value.key == "tuner.num_low_dims"


@pytest.mark.parametrize("optimizer", ["smac", "flaml", "random"])
def test_mlos_backends_and_llamatune(optimizer: str, space: ParameterSpace) -> None:
    for adapter in ("identity", "llamatune"):
        tuner = make("mlos", space, optimizer=optimizer, space_adapter=adapter, num_low_dims=3)
        try:
            for proposal in feed(tuner, space, 6, fail_at=(2,)):
                assert_in_domain(space, proposal)
            # every window registered: the baseline, random-init points and the failed one
            assert len(tuner._opt.get_observations()) == 7
        finally:
            tuner.close()


def test_max_actions_thins_the_grid_and_fails_early(space: ParameterSpace) -> None:
    from sematune.tuners._grid import ActionGrid

    # 6 categorical choices + 4 numeric knobs: 30 actions leave 6 points, 13 leave fewer than 2
    grid = ActionGrid(space, grid_points=10, max_actions=30)
    assert grid.points == 6 and len(grid) <= 30
    scale = space.names.index("scale")
    assert grid.values[scale][:3] == pytest.approx([0.01, 0.0631, 0.398], rel=0.01)  # a log grid
    with pytest.raises(ConfigError, match="at least 14 needed") as err:
        ActionGrid(space, grid_points=10, max_actions=13)
    assert err.value.key == "tuner.max_actions"


@pytest.mark.parametrize(("name", "module", "extra"), [
    ("bayesian", "smac", "bayesian"), ("mlos", "mlos_core", "mlos"), ("dqn", "torch", "dqn"),
])
def test_missing_optional_dependency_names_the_extra(name: str, module: str, extra: str, space: ParameterSpace,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    cls = tuner_class(name)
    for loaded in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.setitem(sys.modules, loaded, None)
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=rf"pip install 'sematune\[{extra}\]'"):
        cls(space=space, goal="maximize", seed=0)


def test_objective_of_prefers_its_optimum() -> None:
    good = {"vm_dirty_ratio": 10, "vm_min_free_kbytes": 65536, "ratio": 0.7, "scale": 1.0,
            "thp_enabled": "always", "tcp_tw_reuse": 1}
    assert objective_of(good) > objective_of({**good, "thp_enabled": "never"})
