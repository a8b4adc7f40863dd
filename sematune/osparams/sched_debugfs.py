"""Scheduler tunables in debugfs (``/sys/kernel/debug/sched``), resolved by kernel.

Since 5.13 the CFS tunables live in debugfs; since 6.6 (EEVDF) ``latency_ns`` and
``wakeup_granularity_ns`` are gone and ``min_granularity_ns`` became ``base_slice_ns``. A knob
lists its candidate file names, newest last; the first one this kernel has is used. debugfs is
mounted when needed by the run's journal, after it exists (and unmounted when the run restores the
host); until then the file name is not resolved. Kernels in lockdown refuse every access; such
knobs are reported unavailable.
"""

from __future__ import annotations

import os
import platform
from typing import Any, Sequence

from sematune.osparams.base import OsParam
from sematune.validate import require

DEBUGFS = "/sys/kernel/debug"
SCHED_DIR = f"{DEBUGFS}/sched"

class SchedDebugfs(OsParam):
    """A scheduler tunable; ``names`` are candidate files in ``sched/``, first present wins."""

    interface = "sched_debugfs"
    allowed_paths = (f"{SCHED_DIR}/*",)
    sandbox_globs = (f"{SCHED_DIR}/*",)
    mount_points = (DEBUGFS,)
    doc_files = ("`/sys/kernel/debug/sched/<first existing name>`; debugfs is mounted when needed and "
                 "unmounted on restore")

    @classmethod
    def doc_location(cls, spec: dict[str, Any]) -> str:
        return " or ".join(f"`sched/{n}`" for n in spec["names"])

    def __init__(self, name: str, *, names: Sequence[str], **kwargs: Any) -> None:
        if isinstance(names, str):
            names = [names]
        require(f"osparam.{name}.names", names and not any("/" in n or n.startswith(".") for n in names),
                f"{list(names)!r} must be file names in {SCHED_DIR}")
        self.names = list(names)
        super().__init__(name, **kwargs)
        self._resolved: str | None = None

    def _unmounted(self) -> bool:
        return self.host.is_real and not self.host.exists(SCHED_DIR) and not self.host.is_mounted("debugfs", DEBUGFS)

    def mounts(self) -> list[tuple[str, str]]:
        return [("debugfs", DEBUGFS)] if self._unmounted() else []

    def _resolve(self) -> str:
        if self._resolved:
            return self._resolved
        if self._unmounted():
            raise LookupError(f"debugfs is not mounted on {DEBUGFS} yet (the run mounts it once its journal exists)")
        for candidate in self.names:
            path = f"{SCHED_DIR}/{candidate}"
            if self.host.exists(path):
                self._resolved = path
                return path
        kernel = platform.release() if self.host.is_real else "this host_root"
        raise LookupError(f"kernel {kernel} has none of {self.names} in {SCHED_DIR}")

    def files(self) -> list[str]:
        return [self._resolve()]

    def probe(self) -> str | None:
        if self._unmounted():
            if os.geteuid() != 0:
                return "debugfs is not mounted and mounting it needs root"
            return None  # mounted by the journal; a kernel without these names fails the capture
        reason = super().probe()
        if reason and "Operation not permitted" in reason:
            reason += " (kernel lockdown restricts debugfs)"
        return reason
