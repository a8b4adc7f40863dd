"""Host-wide counters: CPU time by mode (incl. steal), context switches, interrupts, PSI, vmstat."""

from __future__ import annotations

import os
import time
from typing import Optional, Sequence

_CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
_VMSTAT = (
    "pgfault", "pgmajfault", "pgpgin", "pgpgout", "thp_fault_alloc", "thp_collapse_alloc",
    "pgscan_kswapd", "pgsteal_kswapd", "allocstall_normal", "compact_stall", "workingset_refault_file",
    "nr_dirtied", "nr_written",
)
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def _stat() -> dict[str, float]:
    text = _read("/proc/stat") or ""
    out: dict[str, float] = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "cpu":
            for mode, ticks in zip(_CPU_MODES, parts[1:]):
                out[f"cpu_{mode}_s"] = int(ticks) / _TICKS
        elif parts[0] in ("ctxt", "intr", "processes"):
            out[{"ctxt": "context_switches", "intr": "interrupts", "processes": "forks"}[parts[0]]] = float(parts[1])
    return out


def _psi() -> dict[str, float]:
    out: dict[str, float] = {}
    for resource in ("cpu", "io", "memory"):
        text = _read(f"/proc/pressure/{resource}")
        for line in (text or "").splitlines():
            kind, *fields = line.split()
            for field in fields:
                if field.startswith("total="):
                    out[f"psi_{resource}_{kind}_us"] = float(field[6:])
    return out


def _vmstat() -> dict[str, float]:
    out: dict[str, float] = {}
    for line in (_read("/proc/vmstat") or "").splitlines():
        key, _, value = line.partition(" ")
        if key in _VMSTAT:
            out[f"vm_{key}"] = float(value)
    return out


def _disk_net() -> dict[str, float]:
    out: dict[str, float] = {}
    try:
        import psutil

        disk = psutil.disk_io_counters()
        if disk is not None:
            out.update(disk_read_bytes=float(disk.read_bytes), disk_write_bytes=float(disk.write_bytes),
                       disk_read_ops=float(disk.read_count), disk_write_ops=float(disk.write_count))
        net = psutil.net_io_counters()
        if net is not None:
            out.update(net_bytes_sent=float(net.bytes_sent), net_bytes_recv=float(net.bytes_recv),
                       net_packets_sent=float(net.packets_sent), net_packets_recv=float(net.packets_recv))
    except (ImportError, OSError, RuntimeError):
        pass
    return out


def snapshot() -> dict[str, float]:
    return {**_stat(), **_psi(), **_vmstat(), **_disk_net()}


class ProcStatsProbe:
    """Deltas of host-wide counters over the window, plus CPU utilisation by mode (%)."""

    def __init__(self) -> None:
        self._start: dict[str, float] = {}
        self._t0 = 0.0

    def start(self, pids: Sequence[int]) -> None:
        self._t0 = time.monotonic()
        self._start = snapshot()

    def stop(self) -> dict[str, float]:
        end = snapshot()
        elapsed = max(time.monotonic() - self._t0, 1e-9)
        delta = {k: end[k] - self._start[k] for k in end if k in self._start}
        out = dict(delta)
        busy = sum(v for k, v in delta.items() if k.startswith("cpu_") and k not in ("cpu_idle_s", "cpu_iowait_s"))
        total = sum(v for k, v in delta.items() if k.startswith("cpu_"))
        if total > 0:
            for mode in _CPU_MODES:
                out[f"cpu_{mode}_pct"] = 100.0 * delta.get(f"cpu_{mode}_s", 0.0) / total
            out["cpu_busy_s"] = busy
        for key in ("context_switches", "interrupts"):
            if key in delta:
                out[f"{key}_per_s"] = delta[key] / elapsed
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        if load is not None:
            out["loadavg_1m"] = load
        return out
