"""Scheduler tunables in debugfs (``/sys/kernel/debug/sched``), resolved by kernel.

Since 5.13 the CFS tunables live in debugfs; since 6.6 (EEVDF) ``latency_ns`` and
``wakeup_granularity_ns`` are gone and ``min_granularity_ns`` became ``base_slice_ns``. A knob
lists its candidate file names, newest last; the first one this kernel has is used. debugfs is
mounted when needed (and unmounted again when the run restores the host). Kernels in lockdown
refuse every access; such knobs are reported unavailable.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
from typing import Any, Sequence

from sematune.errors import ConfigError
from sematune.osparams.base import OsParam
from sematune.osparams.host import Host

DEBUGFS = "/sys/kernel/debug"
SCHED_DIR = f"{DEBUGFS}/sched"

#: Mount points this process mounted; the restore step unmounts them.
MOUNTED_BY_US: list[str] = []


def ensure_debugfs(host: Host) -> str | None:
    """Mount debugfs on the real host if it is not; return a reason on failure."""
    if host.exists(SCHED_DIR) or not host.is_real:
        return None
    if os.geteuid() != 0:
        return "debugfs is not mounted and mounting it needs root"
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.mount(b"debugfs", DEBUGFS.encode(), b"debugfs", 0, None) != 0:
        err = ctypes.get_errno()
        return f"mounting debugfs failed: {os.strerror(err)}"
    MOUNTED_BY_US.append(DEBUGFS)
    return None


def unmount(path: str) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.umount2(path.encode(), 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"umount {path}: {os.strerror(err)}")


class SchedDebugfs(OsParam):
    """A scheduler tunable; ``names`` are candidate files in ``sched/``, first present wins."""

    interface = "sched_debugfs"
    allowed_paths = (f"{SCHED_DIR}/*",)
    sandbox_globs = (f"{SCHED_DIR}/*",)
    doc_files = ("`/sys/kernel/debug/sched/<first existing name>`; debugfs is mounted when needed and "
                 "unmounted on restore")

    @classmethod
    def doc_location(cls, spec: dict[str, Any]) -> str:
        return " or ".join(f"`sched/{n}`" for n in spec["names"])

    def __init__(self, name: str, *, names: Sequence[str], **kwargs: Any) -> None:
        if isinstance(names, str):
            names = [names]
        if not names or any("/" in n or n.startswith(".") for n in names):
            raise ConfigError(f"osparam.{name}.names", f"{list(names)!r} must be file names in {SCHED_DIR}")
        self.names = list(names)
        super().__init__(name, **kwargs)
        self._mount_error: str | None = None
        self._resolved: str | None = None

    def _resolve(self) -> str:
        if self._resolved:
            return self._resolved
        self._mount_error = ensure_debugfs(self.host)
        for candidate in self.names:
            path = f"{SCHED_DIR}/{candidate}"
            if self.host.exists(path):
                self._resolved = path
                return path
        kernel = platform.release() if self.host.is_real else "this host_root"
        why = self._mount_error or f"kernel {kernel} has none of {self.names} in {SCHED_DIR}"
        raise LookupError(why)

    def files(self) -> list[str]:
        return [self._resolve()]

    def probe(self) -> str | None:
        reason = super().probe()
        if reason and "Operation not permitted" in reason:
            reason += " (kernel lockdown restricts debugfs)"
        return reason
