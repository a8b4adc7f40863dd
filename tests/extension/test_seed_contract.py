"""Code written to the seed's contract is built unchanged; declared nested components are checked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import pytest
from omegaconf import OmegaConf

from sematune._build import build
from sematune.components import build_tuner
from sematune.errors import ConfigError
from sematune.osparams import Host, ParameterSpace, Sysctl
from sematune.targets.base import default_goal
from sematune.tuners.base import Tuner, TunerConfig, TunerResponse


class SeedInitTuner(Tuner):
    def __init__(self, config):  # the seed's shape: no super().__init__()
        self.config = config
        self.parameter_ranges = config.parameter_ranges

    def suggest_parameters(self, metrics, current_params, iteration, best_reward=0.0, **kwargs):
        return TunerResponse(parameters=dict(current_params))


class NoInitTuner(Tuner):
    def suggest_parameters(self, metrics, current_params, iteration, best_reward=0.0, **kwargs):
        return TunerResponse(parameters={})


class SettingsTuner(Tuner):
    def __init__(self, step: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.step = step

    def suggest_parameters(self, metrics, current_params, iteration, best_reward=0.0, **kwargs):
        return TunerResponse(parameters={})


class Helper:
    def __init__(self, level: int = 0) -> None:
        self.level = level


class SpecialHelper(Helper):
    pass


class UsesHelper(Tuner):
    def __init__(self, helper: Optional[Helper] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.helper = helper

    def suggest_parameters(self, metrics, current_params, iteration, best_reward=0.0, **kwargs):
        return TunerResponse(parameters={})


@pytest.fixture
def space(sandbox: Path) -> ParameterSpace:
    host = Host(sandbox)
    return ParameterSpace([Sysctl("vm_swappiness", key="vm.swappiness", low=0, high=100, host=host)])


def _tuner(cls: type, space: ParameterSpace, **settings: Any) -> Tuner:
    cfg = OmegaConf.create({"tuner": {"_target_": f"{__name__}.{cls.__name__}", **settings}})
    return build_tuner(cfg, space, "minimize", 7)


def test_seed_init_gets_a_config_with_parameter_ranges(space: ParameterSpace) -> None:
    tuner = _tuner(SeedInitTuner, space)
    assert isinstance(tuner.config, TunerConfig)
    assert tuner.parameter_ranges == {"vm_swappiness": {"low": 0, "high": 100, "log": False, "dtype": "int"}}
    assert tuner.config.optimization_goal == "minimize"
    assert (tuner.space, tuner.goal, tuner.seed, tuner.history) == (space, "minimize", 7, [])


def test_no_init_and_kwargs_init_are_built(space: ParameterSpace) -> None:
    plain = _tuner(NoInitTuner, space)
    assert (plain.goal, plain.seed) == ("minimize", 7)
    with_settings = _tuner(SettingsTuner, space, step=3)
    assert (with_settings.step, with_settings.goal) == (3, "minimize")
    assert not hasattr(with_settings, "config")  # **kwargs gets space/goal/seed, not the seed-style config


def test_engine_owned_setting_and_unknown_setting_are_config_errors(space: ParameterSpace) -> None:
    with pytest.raises(ConfigError, match=r"^tuner.seed: is set by the engine"):
        _tuner(SettingsTuner, space, seed=3)
    with pytest.raises(ConfigError, match=r"^tuner: .*unexpected keyword argument 'nope'"):
        _tuner(SeedInitTuner, space, nope=1)


def test_declared_nested_component_is_checked_against_its_annotation(space: ParameterSpace) -> None:
    tuner = _tuner(UsesHelper, space, helper={"_target_": f"{__name__}.SpecialHelper", "level": 2})
    assert isinstance(tuner.helper, SpecialHelper) and tuner.helper.level == 2
    with pytest.raises(ConfigError, match=r"^tuner.helper._target_: builtins.open is a function"):
        _tuner(UsesHelper, space, helper={"_target_": "builtins.open", "_args_": ["/tmp/x", "w"]})
    with pytest.raises(ConfigError, match=r"^tuner.helper._target_: .*SettingsTuner is not a subclass of .*Helper"):
        _tuner(UsesHelper, space, helper={"_target_": f"{__name__}.SettingsTuner"})


def test_build_refuses_a_missing_node() -> None:
    with pytest.raises(ConfigError, match=r"^target: is missing"):
        build(None, "target", Tuner)


def test_contract_names_import_from_the_package_root_lazily() -> None:
    code = ("import sys, sematune; assert 'sematune.targets.base' not in sys.modules; "
            "from sematune import BenchmarkInterface, BenchmarkMetrics, TunerInterface, TunerResponse, OsParam; "
            "from sematune.targets import Target, SyntheticTarget; from sematune.tuners import Tuner, RandomTuner; "
            "assert BenchmarkInterface is Target and TunerInterface is Tuner; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr


@pytest.mark.parametrize(("metric", "goal"), [("throughput", "maximize"), ("tpmC", "maximize"),
                                               ("latency_p99", "minimize"), ("error_rate", "minimize"),
                                               ("rollback_rate", "minimize"), ("system.foreign_cpu", "minimize"),
                                               ("runtime_s", "minimize")])
def test_one_place_decides_the_default_goal(metric: str, goal: str) -> None:
    assert default_goal(metric) == goal
