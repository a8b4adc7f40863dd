"""Validate a tuner's proposal against the space: unknown names rejected, out-of-domain clipped.

A proposal is untrusted input. Whatever it holds — huge integers, NaN, numpy scalars, bytes,
arbitrary objects, non-string keys, values whose ``__str__`` raises — each entry ends up either
applied (coerced into its knob's domain) or rejected with a reason, and :func:`json_safe` gives
a form of it that always serialises, so the record of the window is never lost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from sematune.engine.scoring import Constraint, Objective
from sematune.errors import ConfigError
from sematune.osparams.base import Value
from sematune.osparams.space import ParameterSpace
from sematune.targets.base import BenchmarkMetrics

#: Longest text kept for a value that is not plain JSON.
_REPR_LIMIT = 200
#: Integers beyond this are kept as text (JSON readers and MLflow use doubles).
_INT_LIMIT = 2**63


def _safe_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # a hostile __repr__
        text = f"<{type(value).__name__}: repr failed: {type(exc).__name__}>"
    return text if len(text) <= _REPR_LIMIT else text[: _REPR_LIMIT - 1] + "…"


def _int_text(value: int) -> str:
    try:
        return _safe_repr(value)
    except ValueError:
        return f"<int of {value.bit_length()} bits>"


def json_safe(value: Any, depth: int = 0) -> Any:
    """A JSON-serialisable stand-in for ``value`` (plain values unchanged, the rest as short text)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value) if -_INT_LIMIT < value < _INT_LIMIT else _int_text(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else repr(float(value))
    if depth < 4 and isinstance(value, Mapping):
        try:
            return {(k if isinstance(k, str) else _safe_repr(k)): json_safe(v, depth + 1) for k, v in value.items()}
        except Exception:
            return _safe_repr(value)
    if depth < 4 and isinstance(value, (list, tuple)):
        return [json_safe(v, depth + 1) for v in value]
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and type(value).__module__ == "numpy":
        try:
            return json_safe(item(), depth + 1)
        except Exception:
            pass
    return _safe_repr(value)


@dataclass
class Validated:
    """The full configuration to apply and what validation changed."""

    values: dict[str, Value]
    rejected: dict[str, str] = field(default_factory=dict)
    clipped: dict[str, list[Any]] = field(default_factory=dict)
    #: The proposal as received, in a form that always serialises.
    proposed: dict[str, Any] = field(default_factory=dict)


def _check(name: Any, raw: Any, space: ParameterSpace) -> tuple[Value, Value]:
    """``(coerced, clipped)``; raises ``ValueError`` with the reason for any rejection."""
    if not isinstance(name, str):
        raise ValueError(f"knob names are strings, got {type(name).__name__}")
    if name not in space:
        raise ValueError("unknown knob")
    param = space[name]
    try:
        value = param.coerce(raw)
        bounded = param.clip(value)
    except ValueError as exc:
        raise ValueError(str(exc)[:_REPR_LIMIT]) from None
    except Exception as exc:  # OverflowError, TypeError, a hostile __float__/__str__/__eq__
        raise ValueError(f"{_safe_repr(raw)} is not a valid value ({type(exc).__name__})") from None
    if isinstance(bounded, float) and not math.isfinite(bounded):
        raise ValueError(f"{_safe_repr(raw)} is not finite")
    return value, bounded


def validate_proposal(proposal: Any, space: ParameterSpace, current: Mapping[str, Value]) -> Validated:
    """Merge ``proposal`` into ``current``; knobs not proposed keep their value."""
    values = dict(current)
    rejected: dict[str, str] = {}
    clipped: dict[str, list[Any]] = {}
    try:
        items = list(proposal.items())
    except Exception:
        return Validated(values, {"<proposal>": f"not a mapping: {_safe_repr(proposal)}"}, proposed={})
    for name, raw in items:
        key = name if isinstance(name, str) else _safe_repr(name)
        try:
            value, bounded = _check(name, raw, space)
        except ValueError as exc:
            rejected[key] = str(exc)[:_REPR_LIMIT * 2]
            continue
        if bounded != value:
            clipped[key] = [json_safe(raw), bounded]
        values[key] = bounded
    return Validated(values, rejected, clipped, json_safe(dict(items)))


def check_reported(metrics: Optional[BenchmarkMetrics], objective: Objective, constraint: Optional[Constraint]) -> None:
    """After the baseline window, before any tuning write: the objective and constraint metrics exist."""
    if metrics is None:  # the window failed; the failure path reports why
        return
    for key, name in (("objective.metric", objective.metric), ("constraint.metric", constraint and constraint.metric)):
        if name and metrics.get(name) is None:
            known = ", ".join(sorted(metrics.flat()))[:300]
            raise ConfigError(key, f"{name!r} is not reported by this target (it reports: {known})")
