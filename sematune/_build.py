"""Contract-checked instantiation: resolve a ``_target_`` class, check its base, then call it.

Any importable class may be a target, tuner or knob; safety comes from the contract, not from
the module path. The class is looked up *without calling anything* and refused unless it
subclasses the component's base (``os.system``, ``builtins.eval``, a function or a class of the
wrong kind never run). Component settings are data: a nested ``_target_`` is refused unless the
constructor parameter it sits in is annotated with a class, and then it is built by these same
rules (its class must subclass that annotation).
"""

from __future__ import annotations

import importlib
import inspect
import typing
from typing import Any, Mapping, Optional

from omegaconf import DictConfig, OmegaConf

from sematune.errors import ConfigError

#: Hydra's instantiate keys that would call or reshape something other than the checked class.
_REFUSED_KEYS = ("_args_", "_partial_", "_recursive_", "_convert_")


def locate(path: str) -> Any:
    """The object a dotted path names (``pkg.mod.Class``), importing modules but calling nothing."""
    parts = path.split(".")
    if not all(p.isidentifier() for p in parts):
        raise ImportError(f"{path!r} is not a dotted Python path")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError as exc:
            if exc.name and ".".join(parts[:cut]).startswith(exc.name) and cut > 1:
                continue  # that prefix is not a module: try a shorter one
            raise ImportError(f"cannot import {path!r}: {exc}") from None
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                raise ImportError(f"cannot import {path!r}: {obj.__name__ if hasattr(obj, '__name__') else obj!r} "
                                  f"has no attribute {attr!r}")
            obj = getattr(obj, attr)
        return obj
    raise ImportError(f"cannot import {path!r}")


def _what(obj: Any) -> str:
    if inspect.isbuiltin(obj) or inspect.isfunction(obj) or inspect.ismethod(obj):
        return "a function"
    if inspect.ismodule(obj):
        return "a module"
    return f"a {type(obj).__name__} object"


def resolve_class(target: Any, key: str, base: type) -> type:
    """The class ``target`` names, checked to subclass ``base``; refused otherwise (nothing is called)."""
    where = f"{key}._target_"
    want = f"a subclass of {base.__module__}.{base.__qualname__}"
    if not isinstance(target, str) or not target.strip():
        raise ConfigError(where, f"must name a class ({want}), got {target!r}")
    try:
        obj = locate(target.strip())
    except ImportError as exc:
        raise ConfigError(where, str(exc).splitlines()[0]) from None
    if not isinstance(obj, type):
        raise ConfigError(where, f"{target} is {_what(obj)}, not a class; it must be {want}")
    if not issubclass(obj, base):
        raise ConfigError(where, f"{target} is not {want}")
    if inspect.isabstract(obj):
        missing = ", ".join(sorted(getattr(obj, "__abstractmethods__", ())))
        raise ConfigError(where, f"{target} is abstract (implement {missing})")
    return obj


def _declared_class(cls: type, param: str) -> Optional[type]:
    """The class a constructor parameter is annotated with (``X`` or ``Optional[X]``), if any."""
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # unresolvable annotations declare nothing
        return None
    hint = hints.get(param)
    if hint is None:
        return None
    options = [a for a in typing.get_args(hint) if a is not type(None)] if typing.get_origin(hint) else [hint]
    classes = [a for a in options if isinstance(a, type) and a not in (object, dict, list, str, int, float, bool)]
    return classes[0] if len(classes) == 1 else None


def _find_nested_target(value: Any, path: str) -> Optional[str]:
    if isinstance(value, Mapping):
        if "_target_" in value:
            return path
        for k, v in value.items():
            found = _find_nested_target(v, f"{path}.{k}")
            if found:
                return found
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found = _find_nested_target(v, f"{path}[{i}]")
            if found:
                return found
    return None


def _settings(cls: type, key: str, node: Mapping[str, Any]) -> dict[str, Any]:
    """The node's keys as plain data; a declared nested component is built, any other refused."""
    out: dict[str, Any] = {}
    for name, value in node.items():
        name = str(name)
        if name == "_target_":
            continue
        if name in _REFUSED_KEYS:
            raise ConfigError(f"{key}.{name}", "is not supported on a component (its settings are plain data)")
        declared = _declared_class(cls, name)
        if isinstance(value, Mapping) and "_target_" in value and declared is not None:
            nested_cls = resolve_class(value["_target_"], f"{key}.{name}", declared)
            out[name] = construct(nested_cls, f"{key}.{name}", value)
            continue
        nested = _find_nested_target(value, f"{key}.{name}")
        if nested:
            raise ConfigError(f"{nested}._target_", "nested _target_ is refused: component settings are data "
                              f"({cls.__name__}.__init__ declares no class for {name!r})")
        out[name] = value
    return out


def accepted(cls: type, offered: Mapping[str, Any], by_name_only: tuple[str, ...] = ()) -> dict[str, Any]:
    """The part of ``offered`` that ``cls``'s constructor accepts (by name, or via ``**kwargs``)."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return {}
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    named = {n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return {k: v for k, v in offered.items() if k in named or (var_kw and k not in by_name_only)}


def construct(cls: type, key: str, node: Mapping[str, Any], engine: Mapping[str, Any] | None = None) -> Any:
    """Call ``cls(**settings, **engine)``; any failure becomes one ``ConfigError`` line naming ``key``.

    ``engine`` holds what the engine supplies (already filtered with :func:`accepted`); a setting
    with the same name is refused, since the engine owns it.
    """
    plain = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    assert isinstance(plain, dict)
    kwargs = _settings(cls, key, plain)
    for name in engine or {}:
        if name in kwargs:
            raise ConfigError(f"{key}.{name}", "is set by the engine; remove it from the config")
    try:
        return cls(**kwargs, **(engine or {}))
    except ConfigError:
        raise
    except Exception as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        message = lines[0] if lines else type(exc).__name__
        if isinstance(exc, TypeError) and cls.__name__ not in message:
            message = f"{cls.__name__}: {message}"
        raise ConfigError(key, message) from None


def build(node: Any, key: str, base: type, engine: Mapping[str, Any] | None = None,
          by_name_only: tuple[str, ...] = ()) -> Any:
    """Resolve, check and construct the component at ``key`` (``engine`` kwargs filtered by signature)."""
    if not isinstance(node, (DictConfig, Mapping)):
        raise ConfigError(key, "is missing (choose one with e.g. `target=synthetic`)")
    cls = resolve_class(node.get("_target_"), key, base)
    return construct(cls, key, node, accepted(cls, engine or {}, by_name_only))
