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
    "sematune.targets.base": "BenchmarkInterface BenchmarkMetrics Target",
    "sematune.tuners.base": "Tuner TunerInterface TunerResponse TunerConfig Observation",
    "sematune.osparams.base": "OsParam",
    "sematune.osparams.host": "Host",
    "sematune.osparams.space": "ParameterSpace",
    "sematune.errors": "ConfigError TargetError",
}

__getattr__, __dir__ = lazy_exports(__name__, _CONTRACT)
__all__ = ["__version__", *__dir__()]
