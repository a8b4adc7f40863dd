"""A run's :class:`ParameterSpace` as a ConfigSpace ``ConfigurationSpace``, both ways.

Integer and float ranges keep their log scale; categoricals become ConfigSpace categoricals
over their choices *as text* (so an int choice list such as ``[0, 1, 2]`` and a string list
are handled alike, and every backend — SMAC, FLAML, pandas in mlos — sees plain labels). The
reverse mapping turns a ConfigSpace value back into the knob's own type.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from sematune._imports import optional_import
from sematune.osparams.base import Domain, Value
from sematune.osparams.space import ParameterSpace


def build_configspace(space: ParameterSpace, seed: int, extra: str) -> Any:
    """The ``ConfigurationSpace`` of ``space`` (seeded; ``extra`` names the pip extra for the hint)."""
    cs_mod = optional_import("ConfigSpace", extra)
    cs = cs_mod.ConfigurationSpace(seed=seed)
    hyperparameters = []
    for param in space:
        domain = param.domain
        if domain.choices is not None:
            hyperparameters.append(cs_mod.Categorical(param.name, [str(c) for c in domain.choices]))
        elif domain.dtype == "int":
            hyperparameters.append(cs_mod.Integer(param.name, (int(domain.low), int(domain.high)), log=domain.log))
        else:
            hyperparameters.append(cs_mod.Float(param.name, (float(domain.low), float(domain.high)), log=domain.log))
    cs.add(hyperparameters)
    return cs


def _choice(domain: Domain, value: Any) -> Optional[Value]:
    """The choice whose text is ``str(value)`` (``None`` if there is none)."""
    for choice in domain.choices or ():
        if str(choice) == str(value):
            return choice
    return None


def to_configspace_values(
    space: ParameterSpace, values: Mapping[str, Value], cs: Any
) -> Optional[dict[str, Any]]:
    """Knob values (e.g. read back from the kernel) as values of the ``ConfigurationSpace`` ``cs``.

    Numbers are clipped into the range (a host default may lie outside it); ``None`` when a
    knob is missing or a categorical holds a value that is not one of its choices, i.e. the
    configuration cannot be represented in the search space. The values go through
    ConfigSpace's vector form, so they have the exact types (``np.str_`` labels, rounded
    floats) of the configurations the optimisers generate: a ``Configuration`` built from
    them hashes equal to the one SMAC suggested.
    """
    out: dict[str, Any] = {}
    for param in space:
        if param.name not in values:
            return None
        domain = param.domain
        value = values[param.name]
        if domain.choices is not None:
            choice = _choice(domain, value)
            if choice is None:
                return None
            out[param.name] = str(choice)
            continue
        try:
            number = domain.clip(domain.coerce(value))
        except ValueError:
            return None
        out[param.name] = int(number) if domain.dtype == "int" else float(number)
    from ConfigSpace import Configuration  # installed: ``cs`` is a ConfigurationSpace

    return dict(Configuration(cs, vector=Configuration(cs, values=out).get_array()))


def from_configspace_values(space: ParameterSpace, values: Mapping[str, Any]) -> dict[str, Value]:
    """ConfigSpace values (a ``Configuration`` or a mapping of labels) as typed, in-domain knob values."""
    out: dict[str, Value] = {}
    for param in space:
        if param.name not in values:
            continue
        raw = values[param.name]
        domain = param.domain
        if domain.choices is not None:
            choice = _choice(domain, raw)
            if choice is None:
                raise ValueError(f"{param.name}: {raw!r} is not one of {list(domain.choices)}")
            out[param.name] = choice
        else:
            number = domain.clip(domain.coerce(float(raw)))
            out[param.name] = int(number) if domain.dtype == "int" else float(number)
    return out
