"""LLM trimming: the model narrows ranges and drops knobs for ``trim_windows`` windows, then a
Bayesian optimiser (``then: bayesian`` or ``mlos``) tunes the trimmed space for the rest.

Each trimming answer carries a configuration inside the current ranges, suggested ranges
(``{min, max}`` or ``{values: [...]}``) and knobs to drop. Ranges are clamped to the original
domain, inverted bounds swapped, zero-width numeric ranges widened to a step; a dropped knob
stays at the value the model gave it (or its current one), for good. At the handoff the
optimiser is built on the trimmed space and told every measured window that lies inside it.
"""

from __future__ import annotations

import copy
import importlib
import logging
import math
from typing import Any, Mapping, Optional

from sematune.osparams.base import Domain, Value
from sematune.osparams.space import ParameterSpace
from sematune.targets.base import BenchmarkMetrics
from sematune.tuners.base import Observation, Tuner, TunerResponse
from sematune.tuners.llm._schema import parse_object, proposal_schema, split_proposal
from sematune.tuners.llm.providers import Reply
from sematune.tuners.llm.tuner import LlmTuner
from sematune.validate import integer, one_of

log = logging.getLogger(__name__)

HANDOFF = {"bayesian": ("sematune.tuners.bayesian", "BayesianTuner"), "mlos": ("sematune.tuners.mlos", "MlosTuner")}


class LlmTrimTuner(LlmTuner):
    """``trim_windows`` of model-led trimming, then ``then`` on what is left."""

    def __init__(self, *, trim_windows: Optional[int] = None, then: str = "bayesian",
                 then_settings: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> None:
        kwargs["loop"] = "single"
        super().__init__(**kwargs)
        # null: a fifth of the tuning windows (the SOSP'26 artifact trimmed 10 of 50), at least one
        self.trim_windows = integer("tuner.trim_windows", trim_windows, 1) if trim_windows is not None \
            else max(1, self.n_trials // 5)
        self.then = one_of("tuner.then", then, HANDOFF)
        self.then_settings = dict(then_settings or {})
        self.original = {p.name: p.domain for p in self.space}
        self.ranges: dict[str, Domain] = dict(self.original)
        self.eliminated: dict[str, Value] = {}
        self.actions: list[dict[str, Any]] = []
        self.inner: Optional[Tuner] = None

    # -- the contract -----------------------------------------------------------------------
    def suggest_parameters(
        self,
        metrics: Optional[BenchmarkMetrics],
        current_params: Mapping[str, Value],
        iteration: int,
        best_reward: float = 0.0,
        **kwargs: Any,
    ) -> TunerResponse:
        if iteration > self.trim_windows:
            inner = self._handoff()
            response = inner.suggest_parameters(metrics, current_params, iteration - self.trim_windows, best_reward,
                                                **kwargs)
            return response.model_copy(update={"parameters": {**response.parameters, **self.eliminated}})
        self.prompts.learn_defaults(kwargs.get("defaults"))
        answer, record = self._ask_trim(iteration, current_params, metrics, best_reward)
        self._count_failures(answer is not None, record.error)
        self._pending_tag = "trim" if answer is not None else "failed"
        if answer is None:
            return TunerResponse(parameters=dict(self.eliminated), token_usage=record.usage(),
                                 justification=f"trimming call failed ({record.error}); keeping the current configuration")
        values, why = answer
        return TunerResponse(parameters={**values, **self.eliminated}, justification=why, token_usage=record.usage())

    def observe(self, observation: Observation) -> None:
        super().observe(observation)
        if self.inner is not None:
            self.inner.observe(self._restricted(observation))

    def best_parameters(self) -> Optional[dict[str, Value]]:
        if self.inner is None:  # the run ended within the trimming windows: the model's freeze choice
            return super().best_parameters()
        chosen = self.inner.best_parameters()
        return None if chosen is None else {**chosen, **self.eliminated}

    def finish(self, completed: bool) -> dict[str, Any]:
        out = super().finish(completed)
        out["trimming"] = {
            "windows": self.trim_windows, "then": self.then, "eliminated": dict(self.eliminated),
            "ranges": {name: d.describe() for name, d in self.ranges.items() if name not in self.eliminated},
            "actions": self.actions,
        }
        return out

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "trim_windows": self.trim_windows, "then": self.then}

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()
        super().close()

    # -- trimming ---------------------------------------------------------------------------
    def _active(self) -> list[str]:
        return [name for name in self.space.names if name not in self.eliminated]

    def _trim_schema(self) -> dict[str, Any]:
        active = self._active()
        # choices travel as text (every provider's schema dialect has strings); coerce() reads them back
        range_item = {"type": "object", "properties": {
            "min": {"type": "number"}, "max": {"type": "number"},
            "values": {"type": "array", "items": {"type": "string", "maxLength": 64}, "maxItems": 32}}}
        extra = {
            "suggested_ranges": {"type": "object", "properties": {n: range_item for n in active},
                                 "additionalProperties": False},
            "eliminated_params": {"type": "array", "items": {"type": "string", "enum": active}, "maxItems": len(active)},
        }
        return proposal_schema(self._trimmed_space(), active, extra=extra)

    def _ask_trim(self, iteration: int, current: Mapping[str, Any], metrics: Optional[BenchmarkMetrics],
                  best_reward: Optional[float]) -> tuple[Optional[tuple[dict[str, Any], str]], Any]:
        ranges = "\n".join(f"- {n}: {self.ranges[n].describe()}" for n in self._active())
        sections = [
            "TRIMMING PHASE: propose the next configuration INSIDE the current effective ranges, narrower "
            "suggested_ranges for knobs whose good region you can see, and eliminated_params: knobs that show no "
            f"effect (they stay at the value you give them, for good). After window {self.trim_windows} a Bayesian "
            f"optimiser ({self.then}) searches only what is left.",
            "[Current Effective Ranges]\n" + ranges,
            "[Eliminated Parameters] " + (", ".join(f"{k}={v}" for k, v in self.eliminated.items()) or "none"),
        ]
        user = self.prompts.update(list(self.history), current, iteration=iteration, total=self.trim_windows,
                                   policy=f"TRIM: {self.trim_windows - iteration} trimming windows remain.",
                                   tags=self._tags, extra_sections=sections, metrics=metrics, best_reward=best_reward)
        request = self._request("trim", user, self.model, self._trim_schema(), iteration)

        def parse(reply: Reply) -> tuple[dict[str, Any], str]:
            obj = parse_object(reply.text, reply.finish_reason)
            ranges, dropped = obj.pop("suggested_ranges", None), obj.pop("eliminated_params", None)
            values, why = split_proposal(obj)
            if not values:
                raise ValueError("the answer set no knob")
            self._apply_trim(iteration, ranges, dropped, values)
            return values, why

        return self.caller.call(request, role="trim", window=iteration, parse=parse)

    def _apply_trim(self, iteration: int, ranges: Any, dropped: Any, values: Mapping[str, Any]) -> None:
        action: dict[str, Any] = {"window": iteration, "ranges": {}, "eliminated": {}, "ignored": []}
        for name, spec in (ranges.items() if isinstance(ranges, Mapping) else ()):
            if name not in self.ranges or name in self.eliminated or not isinstance(spec, Mapping):
                action["ignored"].append(str(name))
                continue
            narrowed = narrow(self.original[name], spec, f"osparam.{name}")
            if narrowed is None:
                action["ignored"].append(str(name))
                continue
            self.ranges[name] = narrowed
            action["ranges"][name] = narrowed.describe()
        for name in dropped if isinstance(dropped, list) else ():
            if isinstance(name, str) and name in self.ranges and name not in self.eliminated \
                    and len(self._active()) > 1:
                param = self.space[name]
                try:
                    value = param.coerce(values[name]) if name in values else self.prompts.ctx.defaults.get(name)
                    value = self.original[name].clip(value) if value is not None else None
                except (TypeError, ValueError):
                    value = None
                if value is None:
                    action["ignored"].append(name)
                    continue
                self.eliminated[name] = value
                action["eliminated"][name] = value
        self.actions.append(action)

    def _trimmed_space(self) -> ParameterSpace:
        params = []
        for param in self.space:
            if param.name in self.eliminated:
                continue
            narrowed = copy.copy(param)
            narrowed.domain = self.ranges[param.name]
            params.append(narrowed)
        return ParameterSpace(params)

    def _handoff(self) -> Tuner:
        if self.inner is None:
            module, cls = HANDOFF[self.then]
            tuner_cls = getattr(importlib.import_module(module), cls)
            remaining = max(self.n_trials - self.trim_windows, 1)
            trimmed = self._trimmed_space()
            settings = {"n_trials": remaining, **self.then_settings}
            self.inner = tuner_cls(space=trimmed, goal=self.goal, seed=self.seed, **settings)
            told = 0
            for observation in self.history:
                restricted = self._restricted(observation)
                if all(trimmed[n].domain.contains(v) for n, v in restricted.parameters.items()):
                    self.inner.observe(restricted)
                    told += 1
            log.info("trimming done: %d knobs left (%d dropped), %s takes over with %d windows (%d told)",
                     len(trimmed), len(self.eliminated), self.then, remaining, told)
        return self.inner

    def _restricted(self, observation: Observation) -> Observation:
        keep = {k: v for k, v in observation.parameters.items() if k not in self.eliminated and k in self.space}
        return Observation(window=observation.window, phase=observation.phase, parameters=keep,
                           reward=observation.reward, objective=observation.objective, metrics=observation.metrics,
                           feasible=observation.feasible, extra=observation.extra)


def narrow(original: Domain, spec: Mapping[str, Any], key: str) -> Optional[Domain]:
    """``original`` narrowed to ``spec`` (``{min, max}`` or ``{values}``), or ``None`` if unusable."""
    if original.choices is not None:
        wanted = spec.get("values")
        if not isinstance(wanted, list):
            return None
        kept = []
        for value in wanted:
            try:
                choice = original.coerce(value)
            except (TypeError, ValueError):
                continue
            if choice not in kept:
                kept.append(choice)
        return Domain(key, choices=[c for c in original.choices if c in kept]) if kept else None
    low, high = spec.get("min"), spec.get("max")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (low, high)):
        return None
    assert original.low is not None and original.high is not None
    low, high = sorted((float(low), float(high)))
    low, high = max(low, float(original.low)), min(high, float(original.high))
    if original.dtype == "int":
        low, high = math.floor(low), math.ceil(high)
    if high <= low:  # zero width (or clamped away): widen by a step, inside the original
        step = 1 if original.dtype == "int" else (float(original.high) - float(original.low)) / 100
        low, high = max(low - step, original.low), min(high + step, original.high)
        if high <= low:
            return None
    if original.log and low <= 0:
        return None
    return Domain(key, low=low, high=high, log=original.log, dtype=original.dtype)
