"""SemaTune: online OS-parameter tuning for real workloads.

Targets measure bounded windows, tuners propose knob settings, and the engine validates,
applies, scores, tracks and always restores the host. Everything is wired by Hydra configs
under ``sematune/conf``; see ``python -m sematune --help``.

The extension contract is importable from here (loaded on first use)::

    from sematune import BenchmarkInterface, BenchmarkMetrics, TunerInterface, TunerResponse
"""

from sematune._imports import lazy_exports

__version__ = "0.1.0"

_CONTRACT = {
    "BenchmarkInterface": "sematune.targets.base",
    "BenchmarkMetrics": "sematune.targets.base",
    "Target": "sematune.targets.base",
    "Tuner": "sematune.tuners.base",
    "TunerInterface": "sematune.tuners.base",
    "TunerResponse": "sematune.tuners.base",
    "TunerConfig": "sematune.tuners.base",
    "Observation": "sematune.tuners.base",
    "OsParam": "sematune.osparams.base",
    "Host": "sematune.osparams.host",
    "ParameterSpace": "sematune.osparams.space",
    "ConfigError": "sematune.errors",
    "TargetError": "sematune.errors",
}

__getattr__, __dir__ = lazy_exports(__name__, _CONTRACT)
__all__ = ["__version__", *_CONTRACT]
