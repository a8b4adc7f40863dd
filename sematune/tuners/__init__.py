"""Tuners: one module per algorithm, all on the :class:`Tuner` contract.

Public names load on first use (``from sematune.tuners import RandomTuner``); optional
dependencies (SMAC, MLOS, PyTorch) are imported only when their tuner is built.
"""

from sematune._imports import lazy_exports

_NAMES = {
    "Observation": "sematune.tuners.base",
    "TokenUsage": "sematune.tuners.base",
    "Tuner": "sematune.tuners.base",
    "TunerConfig": "sematune.tuners.base",
    "TunerInterface": "sematune.tuners.base",
    "TunerResponse": "sematune.tuners.base",
    "BayesianTuner": "sematune.tuners.bayesian",
    "DQNTuner": "sematune.tuners.dqn",
    "FixedTuner": "sematune.tuners.fixed",
    "MlosTuner": "sematune.tuners.mlos",
    "QLearningTuner": "sematune.tuners.qlearning",
    "RandomTuner": "sematune.tuners.random_search",
}

__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
__all__ = list(_NAMES)
