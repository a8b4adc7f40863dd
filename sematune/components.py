"""Instantiate a run's knobs, target and tuner from the composed config — no host writes.

Every failure becomes a one-line :class:`ConfigError` naming the config key, so a bad config
is reported before the journal exists and before any knob is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Optional

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from sematune.engine.journal import default_state_dir
from sematune.engine.scoring import Objective
from sematune.errors import ConfigError
from sematune.osparams.base import OsParam
from sematune.osparams.host import Host
from sematune.osparams.space import ParameterSpace
from sematune.settings import RunSettings
from sematune.targets.base import Target
from sematune.tuners.base import Tuner

_ALLOWED_TARGET_PREFIX = "sematune."


@dataclass
class Components:
    """What a run is made of, ready to go."""

    host: Host
    space: ParameterSpace
    target: Target
    tuner: Tuner
    objective: Objective
    settings: RunSettings
    state_dir: str


def _node(cfg: DictConfig, key: str) -> DictConfig:
    node = cfg.get(key)
    if node is None or not isinstance(node, DictConfig):
        raise ConfigError(key, "is missing (choose one with e.g. `target=synthetic`)")
    target = node.get("_target_")
    if not isinstance(target, str) or not target.startswith(_ALLOWED_TARGET_PREFIX):
        raise ConfigError(f"{key}._target_", f"must name a class under sematune.*, got {target!r}")
    return node


def _build(cfg: DictConfig, key: str, **kwargs: Any) -> Any:
    """``instantiate`` with errors re-keyed: the innermost ConfigError or a one-line message."""
    node = _node(cfg, key)
    try:
        return instantiate(node, _convert_="all", **kwargs)
    except InstantiationException as exc:
        cause: Optional[BaseException] = exc
        while cause is not None and not isinstance(cause, (ConfigError, ImportError)):
            cause = cause.__cause__ or cause.__context__
        if isinstance(cause, ConfigError):
            raise cause from None
        if isinstance(cause, ImportError):
            raise ConfigError(key, str(cause)) from None
        raise ConfigError(key, str(exc)) from None  # ConfigError joins the lines: no reason lost


def build_space(cfg: DictConfig, host: Host, skip_unavailable: bool) -> ParameterSpace:
    """Instantiate every ``osparam.<name>`` and keep those this host has."""
    knobs = cfg.get("osparam")
    if not knobs:
        raise ConfigError("osparam", "no knobs selected (e.g. osparam=default or osparam=[vm_swappiness])")
    params: list[OsParam] = []
    for name in knobs:
        param = _build(knobs, str(name), name=str(name), host=host)
        if not isinstance(param, OsParam):
            raise ConfigError(f"osparam.{name}._target_", f"{type(param).__name__} is not an OsParam")
        try:
            paths = [*param.files(), *param.related_files()]
        except (OSError, LookupError, ValueError):
            paths = []  # unresolvable here; probe() reports it
        for path in paths:
            host.check_allowed(path)
        params.append(param)
    return ParameterSpace(params).require_available(skip_unavailable)


def check_privileges(space: ParameterSpace, host: Host) -> None:
    """Refuse early when writes would fail for lack of root."""
    if os.geteuid() == 0:
        return
    needing = space.knobs_needing_root()
    if needing:
        raise ConfigError(
            "host_root",
            f"writing {', '.join(needing)} needs root; run as root, or take a dry tour on a copy of the "
            "knob files: `python -m sematune.osparams.sandbox /tmp/st-host` then `host_root=/tmp/st-host`",
        )


_MINIMIZED_PREFIXES = ("latency", "error_rate", "rollback_rate", "foreign_cpu")


def resolve_objective(settings: RunSettings, target: Target) -> Objective:
    """``objective.*`` with the target's defaults filled in.

    A metric given without a goal is minimised when its name says it is a cost (latency,
    error or rollback rate) and maximised otherwise.
    """
    default_metric, default_goal = target.default_objective
    metric = settings.objective.metric or default_metric
    goal = settings.objective.goal
    if goal is None:
        if metric == default_metric:
            goal = default_goal
        else:
            goal = "minimize" if metric.startswith(_MINIMIZED_PREFIXES) else "maximize"
    return Objective(metric=metric, goal=goal)


def build_components(cfg: DictConfig) -> Components:
    """Validate settings, then build knobs, target and tuner (in that order)."""
    data = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(data, dict)
    settings = RunSettings.from_config(data)
    host = Host(settings.host_root, settings.host.allowed_paths)
    space = build_space(cfg, host, settings.osparam_skip_unavailable)
    check_privileges(space, host)
    target = _build(cfg, "target")
    if not isinstance(target, Target):
        raise ConfigError("target._target_", f"{type(target).__name__} is not a Target")
    objective = resolve_objective(settings, target)
    tuner = _build(cfg, "tuner", space=space, goal=objective.goal, seed=settings.seed)
    if not isinstance(tuner, Tuner):
        raise ConfigError("tuner._target_", f"{type(tuner).__name__} is not a Tuner")
    state_dir = settings.host.state_dir or str(default_state_dir(host))
    return Components(host, space, target, tuner, objective, settings, state_dir)
