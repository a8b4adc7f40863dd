"""What identifies a run in MLflow: params that tell runs apart, tags that say what ran where.

Params are the settings a user compares runs by (tuner, target, knob set, seed, window length,
target and tuner settings); the knobs' descriptions and ranges stay in the ``config_resolved.yaml``
and ``knob_space.json`` artifacts, not in one param per YAML leaf.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any, Mapping

from sematune.components import Components

#: Config sections that are placement or bookkeeping, not what a run measured.
_NOT_PARAMS = ("osparam", "tracking", "host", "hydra", "resume", "sweep_name")


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}`` (lists kept as values)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def run_params(config: Mapping[str, Any], components: Components, choices: Mapping[str, str]) -> dict[str, Any]:
    """The params of a run: config choices and settings that distinguish it, without knob descriptions."""
    names = components.space.names
    params: dict[str, Any] = {
        "target": choices.get("target", type(components.target).__name__),
        "tuner": choices.get("tuner", type(components.tuner).__name__),
        "osparam": choices.get("osparam", ""),
        "knob_count": len(names),
        "knobs": ",".join(names),
        "objective.metric": components.objective.metric,
        "objective.goal": components.objective.goal,
    }
    kept = {k: v for k, v in config.items() if k not in _NOT_PARAMS and k != "objective"}
    params.update({k: v for k, v in flatten(kept).items() if k not in params})
    settings = flatten(components.tuner.describe(), "tuner_settings.")
    # the tuner's effective settings replace the config leaves they repeat (``tuner.n_trials``…)
    for key in settings:
        params.pop("tuner." + key[len("tuner_settings."):], None)
    params.update(settings)
    return params


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def run_tags(components: Components, choices: Mapping[str, str]) -> dict[str, str]:
    """Tags for the MLflow run: what ran where."""
    from sematune import __version__

    return {
        "target": choices.get("target", type(components.target).__name__),
        "tuner": choices.get("tuner", type(components.tuner).__name__),
        "osparam_set": choices.get("osparam", ""),
        "knobs": ",".join(components.space.names),
        "seed": str(components.settings.seed),
        "objective": f"{components.objective.metric} ({components.objective.goal})",
        "host": platform.node(),
        "kernel": platform.release(),
        "cpu": _cpu_model(),
        "host_root": str(components.host.root),
        "sematune_version": __version__,
        "python": platform.python_version(),
    }
