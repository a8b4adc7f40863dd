"""Lazy imports of optional dependencies with an install hint."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Callable


def optional_import(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise ``ImportError`` naming ``pip install 'sematune[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{module} is needed for this feature but is not installed ({exc}); "
            f"install it with: pip install 'sematune[{extra}]'"
        ) from exc


def lazy_exports(package: str, modules: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for a package whose public names live in other modules.

    ``modules`` maps a module to its exported names, space-separated. A name is imported on first
    use, so ``import sematune`` stays cheap while ``from sematune import BenchmarkInterface`` works.
    """
    names = {name: module for module, listed in modules.items() for name in listed.split()}

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
