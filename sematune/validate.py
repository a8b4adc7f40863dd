"""How a component (target, tuner, knob) checks its settings: one call per check, in ``__init__``.

Every check raises :class:`~sematune.errors.ConfigError` with the full key it names
(``target.<field>``, ``tuner.<field>``, ``osparam.<name>.<field>``): one line, exit code 2, before
any host write. ``require`` is the general form; the others are the checks components share.
A nested mapping of settings (e.g. one metric rule) is a pydantic model read with :func:`parsed`.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, TypeVar

from pydantic import BaseModel, ValidationError

from sematune.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def is_int(value: Any) -> bool:
    """An integer that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """An int or float that is not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def require(key: str, ok: Any, message: str) -> None:
    """Raise ``ConfigError(key, message)`` unless ``ok``."""
    if not ok:
        raise ConfigError(key, message)


def integer(key: str, value: Any, low: int) -> int:
    """``value`` if it is an integer ``>= low``."""
    require(key, is_int(value) and value >= low, f"must be an integer >= {low}, got {value!r}")
    return int(value)


def one_of(key: str, value: Any, choices: Iterable[Any]) -> Any:
    """``value`` if it is one of ``choices``."""
    choices = tuple(choices)
    require(key, value in choices, f"must be one of {', '.join(map(str, choices))}, got {value!r}")
    return value


def parsed(key: str, model: type[M], data: Any) -> M:
    """``data`` read as ``model``; the first problem becomes ``ConfigError(key, "<field>: <why>")``."""
    try:
        return model.model_validate(dict(data) if isinstance(data, Mapping) else data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        raise ConfigError(key, f"{where}: {message}" if where else message) from None
