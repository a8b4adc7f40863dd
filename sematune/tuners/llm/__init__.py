"""LLM tuners: a model proposes configurations (:class:`LlmTuner`), or trims the space for a
Bayesian optimiser (:class:`LlmTrimTuner`). Providers live in :mod:`.providers`."""

from sematune._imports import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "sematune.tuners.llm.tuner": "LlmTuner",
    "sematune.tuners.llm.trim": "LlmTrimTuner",
})
__all__ = sorted(__dir__())
