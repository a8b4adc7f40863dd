"""Host-wide perf counters per window through ``perf_event_open(2)`` (ctypes; no ``perf`` binary).

Software events (context switches, CPU migrations, page faults) work wherever perf events are
allowed; hardware events (cycles, instructions → ``perf_ipc``, cache and branch misses) only on
hosts that expose a PMU — most VMs do not. Support is probed once, on the first window: each
event that cannot be opened on every online CPU is dropped (with one debug line) and its
metric is missing. Counting system-wide needs root, CAP_PERFMON or
``kernel.perf_event_paranoid <= 0``; without that the probe reports nothing and never fails.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import platform
import struct
from typing import Optional, Sequence

from sematune.targets.probes.proc_stats import read_text

log = logging.getLogger(__name__)

_SYSCALL_NR = {"x86_64": 298, "aarch64": 241, "arm64": 241, "riscv64": 241, "ppc64le": 319, "s390x": 331,
               "i686": 336, "i386": 336, "armv7l": 364}
_TYPE_HARDWARE, _TYPE_SOFTWARE = 0, 1
_FORMAT_TOTAL_TIME_ENABLED, _FORMAT_TOTAL_TIME_RUNNING = 1, 2
_FLAG_FD_CLOEXEC = 8
_IOC_ENABLE, _IOC_DISABLE, _IOC_RESET = 0x2400, 0x2401, 0x2403
_ATTR_FLAG_DISABLED = 1

#: metric name → (type, config)
SOFTWARE_EVENTS = {
    "perf_context_switches": (_TYPE_SOFTWARE, 3),
    "perf_cpu_migrations": (_TYPE_SOFTWARE, 4),
    "perf_page_faults": (_TYPE_SOFTWARE, 2),
    "perf_major_faults": (_TYPE_SOFTWARE, 6),
}
HARDWARE_EVENTS = {
    "perf_cycles": (_TYPE_HARDWARE, 0),
    "perf_instructions": (_TYPE_HARDWARE, 1),
    "perf_cache_misses": (_TYPE_HARDWARE, 3),
    "perf_branch_misses": (_TYPE_HARDWARE, 5),
}


#: ``struct perf_event_attr`` up to PERF_ATTR_SIZE_VER0 (64 bytes, which every kernel accepts):
#: type, size, config, sample_period, sample_type, read_format, flags, wakeup_events, bp_type, config1.
_ATTR = struct.Struct("=IIQQQQQIIQ")


def online_cpus() -> list[int]:
    """CPU ids from /sys/devices/system/cpu/online (``0-3,6``)."""
    from sematune.osparams.base import parse_cpu_list

    text = (read_text("/sys/devices/system/cpu/online") or "").strip()
    try:
        return list(parse_cpu_list(text)) if text else list(range(os.cpu_count() or 1))
    except ValueError:
        return list(range(os.cpu_count() or 1))


class _Opener:
    """``perf_event_open`` for a (type, config) on one CPU, all tasks; returns an fd or raises OSError."""

    def __init__(self) -> None:
        nr = _SYSCALL_NR.get(platform.machine())
        if nr is None:
            raise OSError(errno.ENOSYS, f"perf_event_open: unknown syscall number on {platform.machine()}")
        try:
            import ctypes

            self._ctypes = ctypes
            self._syscall = ctypes.CDLL(None, use_errno=True).syscall
        except (ImportError, OSError, AttributeError) as exc:
            raise OSError(errno.ENOSYS, f"no libc syscall(): {exc}") from None
        self._syscall.restype = ctypes.c_long
        self._nr = nr

    def __call__(self, kind: int, config: int, cpu: int) -> int:
        c = self._ctypes
        attr = c.create_string_buffer(_ATTR.pack(kind, _ATTR.size, config, 0, 0,
                                                 _FORMAT_TOTAL_TIME_ENABLED | _FORMAT_TOTAL_TIME_RUNNING,
                                                 _ATTR_FLAG_DISABLED, 0, 0, 0), _ATTR.size)
        fd = self._syscall(c.c_long(self._nr), attr, c.c_long(-1), c.c_long(cpu), c.c_long(-1),
                           c.c_long(_FLAG_FD_CLOEXEC))
        if fd < 0:
            err = c.get_errno()
            raise OSError(err, os.strerror(err))
        return int(fd)


def _read_scaled(fd: int) -> float:
    """Counter value, scaled up if the PMU multiplexed it (time running < time enabled)."""
    value, enabled, running = struct.unpack("QQQ", os.read(fd, 24))
    if running and running < enabled:
        return value * enabled / running
    return float(value)


class PerfEventProbe:
    """System-wide perf counters over the window; unsupported events are simply missing."""

    def __init__(self, hardware: bool = True, events: Optional[dict[str, tuple[int, int]]] = None) -> None:
        self.requested = dict(events) if events is not None else {
            **SOFTWARE_EVENTS, **(HARDWARE_EVENTS if hardware else {})}
        self._fds: dict[str, list[int]] = {}
        self._probed = False
        #: Why each requested event is not counted (after the first window), e.g. for `describe`.
        self.unsupported: dict[str, str] = {}

    @property
    def supported(self) -> list[str]:
        return list(self._fds)

    def _probe(self) -> None:
        self._probed = True
        try:
            opener = _Opener()
        except OSError as exc:
            self.unsupported = {name: str(exc) for name in self.requested}
            log.debug("perf events unavailable: %s", exc)
            return
        cpus = online_cpus()
        for name, (kind, config) in self.requested.items():
            fds: list[int] = []
            try:
                for cpu in cpus:
                    fds.append(opener(kind, config, cpu))
            except OSError as exc:
                for fd in fds:
                    os.close(fd)
                self.unsupported[name] = exc.strerror or str(exc)
                continue
            self._fds[name] = fds
        if self.unsupported:
            log.debug("perf events not counted here: %s", self.unsupported)

    def _ioctl_all(self, request: int) -> None:
        for fds in self._fds.values():
            for fd in fds:
                fcntl.ioctl(fd, request, 0)

    def start(self, pids: Sequence[int]) -> None:
        try:
            if not self._probed:
                self._probe()
            self._ioctl_all(_IOC_RESET)
            self._ioctl_all(_IOC_ENABLE)
        except Exception as exc:  # a probe never fails a window
            log.debug("perf probe start failed: %s", exc)
            self.close()

    def stop(self) -> dict[str, float]:
        out: dict[str, float] = {}
        try:
            self._ioctl_all(_IOC_DISABLE)
            for name, fds in self._fds.items():
                out[name] = sum(_read_scaled(fd) for fd in fds)
        except Exception as exc:
            log.debug("perf probe stop failed: %s", exc)
            return {}
        cycles, instructions = out.get("perf_cycles"), out.get("perf_instructions")
        if cycles and instructions is not None:
            out["perf_ipc"] = instructions / cycles
        return out

    def close(self) -> None:
        """Close every counter (they are also closed on exec and at exit)."""
        for fds in self._fds.values():
            for fd in fds:
                try:
                    os.close(fd)
                except Exception:  # also at interpreter shutdown
                    pass
        self._fds = {}

    def __del__(self) -> None:
        self.close()
