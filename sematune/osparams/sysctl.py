"""Knobs under ``/proc/sys`` (what ``sysctl -w`` writes), written as plain files."""

from __future__ import annotations

import re
from typing import Any, Sequence

from sematune.osparams.base import OsParam
from sematune.validate import require

_KEY = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_-]+)+$")


def sysctl_path(key: str) -> str:
    """``vm.swappiness`` → ``/proc/sys/vm/swappiness``."""
    require("osparam.key", _KEY.match(key), f"{key!r} is not a sysctl key like 'vm.swappiness'")
    return "/proc/sys/" + key.replace(".", "/")


class Sysctl(OsParam):
    """A single-valued sysctl.

    ``related`` names sysctls that a write changes as a side effect (``vm.dirty_ratio`` zeroes
    ``vm.dirty_bytes``; a new congestion control joins ``tcp_allowed_congestion_control``);
    they are journaled and restored with the knob. ``choices_from`` names a sysctl listing what
    this kernel offers; configured choices it lacks are dropped.
    """

    interface = "sysctl"
    allowed_paths = ("/proc/sys/*",)
    sandbox_globs = ("/proc/sys/vm/*", "/proc/sys/kernel/sched_*", "/proc/sys/kernel/numa_balancing",
                     "/proc/sys/kernel/timer_migration", "/proc/sys/net/core/*", "/proc/sys/net/ipv4/tcp_*")
    doc_location_format = "`{key}`"
    doc_files = "`/proc/sys/<key with dots as slashes>`"


    def __init__(
        self,
        name: str,
        *,
        key: str,
        related: Sequence[str] = (),
        choices_from: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.key = key
        self.path = sysctl_path(key)
        self.related = [sysctl_path(k) for k in related]
        self.choices_from = sysctl_path(choices_from) if choices_from else None
        super().__init__(name, **kwargs)
        if self.choices_from and self.domain.choices is not None and self.host.exists(self.choices_from):
            self.restrict_choices(self.host.read_text(self.choices_from).split(), self.domain.choices)

    def files(self) -> list[str]:
        return [self.path]

    def related_files(self) -> list[str]:
        return [p for p in self.related if self.host.exists(p)]
