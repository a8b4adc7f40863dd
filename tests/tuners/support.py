"""Helpers for the tuner tests: a mixed-type knob space on a throwaway host tree, and a feed loop."""

from __future__ import annotations

import importlib
import math
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from sematune.engine.scoring import Objective
from sematune.osparams import Host, ParameterSpace, Sysctl, SysfsChoice, SysfsValue
from sematune.osparams.base import Value
from sematune.targets.base import BenchmarkMetrics
from sematune.tuners.base import Observation, Tuner
from tests.conftest import requires

#: tuner name → (module, class, the optional module it needs or None)
TUNERS: dict[str, tuple[str, str, Optional[str]]] = {
    "bayesian": ("sematune.tuners.bayesian", "BayesianTuner", "smac"),
    "mlos": ("sematune.tuners.mlos", "MlosTuner", "mlos_core"),
    "qlearning": ("sematune.tuners.qlearning", "QLearningTuner", None),
    "dqn": ("sematune.tuners.dqn", "DQNTuner", "torch"),
}

_FILES = {
    "/proc/sys/vm/dirty_ratio": "20\n",
    "/proc/sys/vm/min_free_kbytes": "67584\n",
    "/proc/sys/net/ipv4/tcp_tw_reuse": "2\n",
    "/sys/kernel/mm/transparent_hugepage/enabled": "always [madvise] never\n",
    "/sys/kernel/test/ratio": "0.25\n",
    "/sys/kernel/test/scale": "1.5\n",
}


def make_space(root: Path) -> ParameterSpace:
    """int, log int, float, log float, categorical str and categorical int knobs on a host tree."""
    for path, text in _FILES.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    host = Host(root)
    return ParameterSpace([
        Sysctl("vm_dirty_ratio", key="vm.dirty_ratio", low=1, high=80, host=host),
        Sysctl("vm_min_free_kbytes", key="vm.min_free_kbytes", low=16384, high=1048576, log=True, host=host),
        SysfsValue("ratio", path="/sys/kernel/test/ratio", low=0.0, high=1.0, dtype="float", host=host),
        SysfsValue("scale", path="/sys/kernel/test/scale", low=0.01, high=100.0, log=True, dtype="float", host=host),
        SysfsChoice("thp_enabled", path="/sys/kernel/mm/transparent_hugepage/enabled",
                    choices=["always", "madvise", "never"], host=host),
        Sysctl("tcp_tw_reuse", key="net.ipv4.tcp_tw_reuse", choices=[0, 1, 2], host=host),
    ])


def tuner_class(name: str) -> type[Tuner]:
    module, cls, needs = TUNERS[name]
    if needs:
        requires(needs, reason=f"the {name} tuner needs the optional dependency {needs}")
    return getattr(importlib.import_module(module), cls)


def objective_of(config: dict[str, Value]) -> float:
    """A made-up throughput: best near dirty_ratio 10, ratio 0.7, thp always, tw_reuse 1."""
    value = 1000.0 * (1.1 - ((float(config["vm_dirty_ratio"]) - 10) / 70) ** 2)
    value *= 1.0 + 0.2 * math.exp(-((float(config["ratio"]) - 0.7) ** 2) / 0.05)
    value *= {"always": 1.1, "madvise": 1.0, "never": 0.9}[str(config["thp_enabled"])]
    value *= 1.05 if config["tcp_tw_reuse"] == 1 else 1.0
    return value * (0.4 if float(config["vm_min_free_kbytes"]) > 500_000 else 1.0)


def observation(window: int, phase: str, config: dict[str, Value], objective: Optional[float],
                goal: str = "maximize") -> Observation:
    """What the engine hands a tuner: reward from the objective's goal, ``None`` when failed."""
    reward = Objective(metric="throughput", goal=goal).reward(objective) if objective is not None else None
    metrics = BenchmarkMetrics(throughput=objective) if objective is not None else None
    return Observation(window=window, phase=phase, parameters=dict(config), reward=reward, objective=objective,
                       metrics=metrics)


def feed(tuner: Tuner, space: ParameterSpace, windows: int,
         read_back: Callable[[dict[str, Value]], dict[str, Value]] = lambda c: c,
         fail_at: tuple[int, ...] = ()) -> list[dict[str, Any]]:
    """Drive ``tuner`` like the engine does: baseline, then suggest → apply → observe; return the proposals."""
    current = space.read_all()
    tuner.observe(observation(0, "baseline", current, objective_of(current)))
    proposals = []
    for window in range(1, windows + 1):
        last = tuner.history[-1]
        response = tuner.suggest_parameters(last.metrics, dict(current), window, 0.0,
                                            history=list(tuner.history), defaults=space.read_all())
        proposals.append(dict(response.parameters))
        current = read_back({**current, **response.parameters})
        failed = window in fail_at
        tuner.observe(observation(window, "tuning", current, None if failed else objective_of(current)))
    return proposals
