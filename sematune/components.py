"""Instantiate a run's knobs, target and tuner from the composed config — no host writes.

Every failure becomes a one-line :class:`ConfigError` naming the config key, so a bad config
is reported before the journal exists and before any knob is written.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf

from sematune._build import build
from sematune.conf.renamed import RENAMED
from sematune.engine.journal import default_state_dir
from sematune.engine.scoring import Objective
from sematune.errors import ConfigError
from sematune.osparams.base import OsParam
from sematune.osparams.host import Host
from sematune.osparams.space import ParameterSpace
from sematune.settings import RunSettings
from sematune.targets.base import Target, default_goal
from sematune.tuners.base import Tuner, TunerConfig

log = logging.getLogger(__name__)


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


def build_space(cfg: DictConfig, host: Host, skip_unavailable: bool) -> ParameterSpace:
    """Instantiate every ``osparam.<name>`` and keep those this host has."""
    knobs = cfg.get("osparam")
    if not knobs:
        raise ConfigError("osparam", "no knobs selected (e.g. osparam=default or osparam=[vm_swappiness])")
    for old, new in (cfg.get("osparam_renamed") or {}).items():
        log.warning("osparam %r was renamed %r; the old name goes in the next release", old, new)
    params: list[OsParam] = []
    for name in knobs:
        node = knobs.get(name)
        if name in RENAMED and isinstance(node, DictConfig) and "_target_" not in node:
            raise ConfigError(f"osparam.{name}", f"was renamed {RENAMED[name]}: use osparam.{RENAMED[name]}.…")
        param = build(node, f"osparam.{name}", OsParam, {"name": str(name), "host": host})
        try:
            paths = [*param.files(), *param.related_files()]
        except (OSError, LookupError, ValueError):
            paths = []  # unresolvable here; probe() reports it
        for path in paths:
            host.check_allowed(path)
        params.append(param)
    return ParameterSpace(params).require_available(skip_unavailable)


def build_tuner(cfg: DictConfig, space: ParameterSpace, goal: str, seed: int, objective_metric: str | None = None,
                constraint: dict | None = None) -> Tuner:
    """The tuner, given what its constructor accepts of ``space``, ``goal``, ``seed`` (and ``config``,
    ``objective_metric``, ``constraint``: only to a constructor that names them).

    A seed-style ``__init__(self, config)`` gets a :class:`TunerConfig`; one that does not call
    ``Tuner.__init__`` still gets the engine's state filled in.
    """
    config = TunerConfig.of(space, goal, seed)  # type: ignore[arg-type]
    engine = {"space": space, "goal": goal, "seed": seed, "config": config, "objective_metric": objective_metric,
              "constraint": constraint}
    tuner = build(cfg.get("tuner"), "tuner", Tuner, engine, by_name_only=("config", "objective_metric", "constraint"))
    tuner.adopt(space=space, goal=goal, seed=seed)  # type: ignore[arg-type]
    return tuner


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


def resolve_objective(settings: RunSettings, target: Target) -> Objective:
    """``objective.*`` with the target's defaults filled in.

    A metric given without a goal gets :func:`~sematune.targets.base.default_goal`.
    """
    default_metric, target_goal = target.default_objective
    metric = settings.objective.metric or default_metric
    goal = settings.objective.goal
    if goal is None:
        if metric == default_metric:
            goal = target_goal
        else:
            goal = default_goal(metric)
    return Objective(metric=metric, goal=goal)


def build_components(cfg: DictConfig) -> Components:
    """Validate settings, then build knobs, target and tuner (in that order)."""
    data = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(data, dict)
    settings = RunSettings.from_config(data)
    host = Host(settings.host_root, settings.host.allowed_paths)
    space = build_space(cfg, host, settings.osparam_skip_unavailable)
    check_privileges(space, host)
    target = build(cfg.get("target"), "target", Target)
    objective = resolve_objective(settings, target)
    constraint = settings.constraint.model_dump() if settings.constraint is not None else None
    tuner = build_tuner(cfg, space, objective.goal, settings.seed, objective.metric, constraint)
    state_dir = settings.host.state_dir or str(default_state_dir(host))
    return Components(host, space, target, tuner, objective, settings, state_dir)
