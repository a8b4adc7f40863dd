"""Validate a tuner's proposal against the space: unknown names rejected, out-of-domain clipped."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from sematune.osparams.base import Value
from sematune.osparams.space import ParameterSpace


@dataclass
class Validated:
    """The full configuration to apply and what validation changed."""

    values: dict[str, Value]
    rejected: dict[str, str] = field(default_factory=dict)
    clipped: dict[str, list[Any]] = field(default_factory=dict)


def validate_proposal(
    proposal: Mapping[str, Any], space: ParameterSpace, current: Mapping[str, Value]
) -> Validated:
    """Merge ``proposal`` into ``current``; knobs not proposed keep their value."""
    values = dict(current)
    rejected: dict[str, str] = {}
    clipped: dict[str, list[Any]] = {}
    for name, raw in proposal.items():
        if name not in space:
            rejected[name] = "unknown knob"
            continue
        param = space[name]
        try:
            value = param.coerce(raw)
        except ValueError as exc:
            rejected[name] = str(exc)
            continue
        bounded = param.clip(value)
        if bounded != value:
            clipped[name] = [raw, bounded]
        values[name] = bounded
    return Validated(values, rejected, clipped)
