"""The answer's JSON schema, built from the run's knob space, and the parsing of a reply into it.

Every knob is a property with its bounds (``minimum``/``maximum``) or its choices (``enum``),
and ``justification`` is a short string (``maxLength``: small models otherwise ramble into the
token limit). Parsing is lenient about the wrapping (code fences, "Config: {…}", prose around
the object) and strict about the result being one JSON object; the engine still validates and
clips every value, and unknown keys travel on so that the engine rejects and records them.
"""

from __future__ import annotations

import json
import re
from typing import Any, Optional

from sematune.osparams.space import ParameterSpace

JUSTIFICATION = "justification"
MAX_JUSTIFICATION = 300
TRUNCATED = ("length", "MAX_TOKENS")
_WRAPPERS = ("params", "parameters", "config", "configuration")


def knob_schema(param: Any) -> dict[str, Any]:
    """One knob's JSON schema: a bounded number, or an enum of its choices."""
    domain = param.domain
    if domain.choices is not None:
        choices = list(domain.choices)
        if all(isinstance(c, bool) for c in choices):
            return {"type": "boolean"}
        if all(isinstance(c, int) and not isinstance(c, bool) for c in choices):
            return {"type": "integer", "enum": choices}
        return {"type": "string", "enum": [str(c) for c in choices]}
    kind = "integer" if isinstance(domain.low, int) and isinstance(domain.high, int) else "number"
    return {"type": kind, "minimum": domain.low, "maximum": domain.high}


def proposal_schema(space: ParameterSpace, names: Optional[list[str]] = None, *,
                    extra: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """``{"justification": str, <knob>: …}`` for ``names`` (default: every knob), all required."""
    names = list(names if names is not None else space.names)
    properties: dict[str, Any] = {JUSTIFICATION: {"type": "string", "maxLength": MAX_JUSTIFICATION}}
    properties.update({name: knob_schema(space[name]) for name in names})
    properties.update(extra or {})
    return {"type": "object", "properties": properties, "required": list(properties),
            "additionalProperties": False}


def parse_object(text: str, finish_reason: Optional[str] = None) -> dict[str, Any]:
    """The one JSON object in ``text``; ``ValueError`` says why there is none."""
    candidates = [text.strip()]
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)
    if fenced:
        candidates.append(fenced.group(1).strip())
    labelled = re.search(r"Config:\s*(\{.*\})", text, re.DOTALL)
    if labelled:
        candidates.append(labelled.group(1))
    balanced = _first_balanced(text)
    if balanced:
        candidates.append(balanced)
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except (json.JSONDecodeError, RecursionError):
            continue
        if isinstance(value, dict):
            return value
    if finish_reason in TRUNCATED:
        raise ValueError(f"the reply was cut at the token limit before its JSON ended ({len(text)} chars)")
    raise ValueError(f"no JSON object in the reply: {text[:120]!r}")


def split_proposal(obj: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """``(knob values, justification)`` of a parsed answer (a ``{"params": {…}}`` wrapper is accepted)."""
    justification = str(obj.get(JUSTIFICATION) or obj.get("rationale") or obj.get("reason") or "")
    values = {k: v for k, v in obj.items() if k not in (JUSTIFICATION, "rationale", "reason")}
    for wrapper in _WRAPPERS:
        if isinstance(values.get(wrapper), dict) and len(values) == 1:
            values = dict(values[wrapper])
    return values, " ".join(justification.split())[:MAX_JUSTIFICATION]


def _first_balanced(text: str) -> Optional[str]:
    start = text.find("{")
    if start < 0:
        return None
    depth, in_string, escaped = 0, False, False
    for i, ch in enumerate(text[start:], start):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start:i + 1]
    return None
