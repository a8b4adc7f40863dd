"""Uniform random search over the space (log-uniform where a domain is log-scale), seeded."""

from __future__ import annotations

import random
from typing import Any, Mapping, Optional

from sematune.osparams.base import Value
from sematune.targets.base import BenchmarkMetrics
from sematune.tuners.base import Tuner, TunerResponse


class RandomTuner(Tuner):
    """Draws every knob independently; categoricals uniformly over their choices."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rng = random.Random(self.seed)

    def suggest_parameters(
        self,
        metrics: Optional[BenchmarkMetrics],
        current_params: Mapping[str, Value],
        iteration: int,
        best_reward: float = 0.0,
        **kwargs: Any,
    ) -> TunerResponse:
        proposal = {p.name: p.denormalise(self.rng.random()) for p in self.space}
        return TunerResponse(parameters=proposal, confidence=0.0, justification="uniform random sample")
