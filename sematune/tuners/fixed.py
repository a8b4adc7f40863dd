"""The baseline tuner: host defaults, or the given fixed values, every window."""

from __future__ import annotations

from typing import Any, Mapping, Optional

from sematune.errors import ConfigError
from sematune.osparams.base import Value
from sematune.targets.base import BenchmarkMetrics
from sematune.tuners.base import Tuner, TunerResponse
from sematune.validate import require


class FixedTuner(Tuner):
    """Proposes ``parameters`` (validated against the space) or nothing, i.e. host defaults."""

    def __init__(self, *, parameters: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.parameters: dict[str, Value] = {}
        for name, raw in dict(parameters or {}).items():
            require(f"tuner.parameters.{name}", name in self.space,
                    f"unknown knob (the set has {self.space.names})")
            param = self.space[name]
            try:
                value = param.coerce(raw)
            except ValueError as exc:
                raise ConfigError(f"tuner.parameters.{name}", str(exc)) from None
            require(f"tuner.parameters.{name}", param.domain.contains(value),
                    f"{raw!r} is outside {param.domain.describe()}")
            self.parameters[name] = value

    def suggest_parameters(
        self,
        metrics: Optional[BenchmarkMetrics],
        current_params: Mapping[str, Value],
        iteration: int,
        best_reward: float = 0.0,
        **kwargs: Any,
    ) -> TunerResponse:
        reason = "fixed values" if self.parameters else "host defaults"
        return TunerResponse(parameters=dict(self.parameters), confidence=1.0, justification=f"Keeping {reason}")

    def best_parameters(self) -> Optional[dict[str, Value]]:
        return dict(self.parameters)

    def describe(self) -> dict[str, Any]:
        return {"parameters": dict(self.parameters)}
