"""Tuners: one module per algorithm, all on the :class:`Tuner` contract.

Public names load on first use (``from sematune.tuners import RandomTuner``); optional
dependencies (SMAC, MLOS, PyTorch) are imported only when their tuner is built.
"""

from sematune._imports import lazy_exports

_NAMES = {
    "sematune.tuners.base": "Observation TokenUsage Tuner TunerConfig TunerInterface TunerResponse",
    "sematune.tuners.bayesian": "BayesianTuner",
    "sematune.tuners.dqn": "DQNTuner",
    "sematune.tuners.fixed": "FixedTuner",
    "sematune.tuners.mlos": "MlosTuner",
    "sematune.tuners.qlearning": "QLearningTuner",
    "sematune.tuners.random_search": "RandomTuner",
    "sematune.tuners.replay": "ReplayTuner",
}

__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
__all__ = sorted(__dir__())
