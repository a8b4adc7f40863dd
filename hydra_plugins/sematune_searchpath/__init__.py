"""Hydra search-path plugin: config dirs of installed SemaTune plugin packages join the search path.

A plugin package declares, in its ``pyproject.toml``::

    [project.entry-points."sematune.plugins"]
    my_plugin = "my_plugin.conf"

where the value is the Python package holding its config groups (``target/``, ``tuner/``,
``osparam/``…). Once it is installed, ``python -m sematune target=<its target>`` finds them: each is
appended as ``pkg://<value>`` after SemaTune's own configs. Other Hydra apps are left alone.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

GROUP = "sematune.plugins"
_SEMATUNE_CONF = "pkg://sematune.conf"

log = logging.getLogger(__name__)


def plugin_search_paths() -> list[tuple[str, str]]:
    """``(provider, pkg://…)`` for every ``sematune.plugins`` entry point, sorted by name."""
    paths = []
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        module = ep.value.replace(":", ".").strip()
        if not module or not all(part.isidentifier() for part in module.split(".")):
            log.warning("ignoring sematune.plugins entry point %r: %r is not a package name", ep.name, ep.value)
            continue
        paths.append((f"sematune-plugin:{ep.name}", f"pkg://{module}"))
    return paths


class SematunePluginSearchPath(SearchPathPlugin):
    """Adds the config package of every installed ``sematune.plugins`` entry point."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        # hydra.main spells the primary path pkg://sematune/conf, the compose API pkg://sematune.conf.
        if not any(element.path.replace("/", ".") == _SEMATUNE_CONF.replace("/", ".")
                   for element in search_path.get_path()):
            return
        known = {element.path for element in search_path.get_path()}
        for provider, path in plugin_search_paths():
            if path not in known:
                search_path.append(provider=provider, path=path)
