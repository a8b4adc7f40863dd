"""Host-wide counters over a window: CPU time by mode (incl. steal), context switches, interrupts,
softirqs by type, PSI stall time, vmstat (faults, THP, reclaim, compaction), disk, network, TCP.

Counters are read at the window's start and end and reported as deltas; a few gauges (load,
runnable/blocked tasks, dirty pages, available memory) are read at the end. Every source is
optional: one that this kernel lacks (or cannot be parsed) simply contributes no keys.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Callable, Optional, Sequence

log = logging.getLogger(__name__)

CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
#: Modes in which a task (not an interrupt, not the hypervisor) ran: the basis of "busy" task time.
TASK_MODES = ("user", "nice", "system")
_VMSTAT_COUNTERS = (
    "pgfault", "pgmajfault", "pgpgin", "pgpgout", "pswpin", "pswpout",
    "thp_fault_alloc", "thp_fault_fallback", "thp_collapse_alloc", "thp_collapse_alloc_failed", "thp_split_page",
    "pgscan_kswapd", "pgscan_direct", "pgsteal_kswapd", "pgsteal_direct", "allocstall_normal", "allocstall_movable",
    "compact_stall", "compact_fail", "compact_success", "workingset_refault_file", "workingset_refault_anon",
    "nr_dirtied", "nr_written", "pgmigrate_success", "numa_hint_faults", "oom_kill",
)
_VMSTAT_GAUGES = ("nr_dirty", "nr_writeback")
_MEMINFO_GAUGES = {"MemAvailable": "mem_available_mib", "Dirty": "mem_dirty_mib", "AnonHugePages": "mem_anon_huge_mib"}
_TCP = {"InSegs": "tcp_in_segs", "OutSegs": "tcp_out_segs", "RetransSegs": "tcp_retrans_segs",
        "ActiveOpens": "tcp_active_opens", "InErrs": "tcp_in_errs"}
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def read_text(path: str) -> Optional[str]:
    """A small /proc or /sys file, or None when it is absent or unreadable."""
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def cpu_times() -> dict[str, float]:
    """``{mode: seconds}`` of the ``cpu`` line of /proc/stat (all CPUs together)."""
    for line in (read_text("/proc/stat") or "").splitlines():
        parts = line.split()
        if parts and parts[0] == "cpu":
            return {mode: int(ticks) / TICKS for mode, ticks in zip(CPU_MODES, parts[1:])}
    return {}


def _stat() -> dict[str, float]:
    out: dict[str, float] = {}
    names = {"ctxt": "context_switches", "intr": "interrupts", "processes": "forks"}
    for line in (read_text("/proc/stat") or "").splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "cpu":
            for mode, ticks in zip(CPU_MODES, parts[1:]):
                out[f"cpu_{mode}_s"] = int(ticks) / TICKS
        elif parts[0] in names:
            out[names[parts[0]]] = float(parts[1])
    return out


def _softirqs() -> dict[str, float]:
    out: dict[str, float] = {}
    for line in (read_text("/proc/softirqs") or "").splitlines()[1:]:
        name, _, counts = line.partition(":")
        if counts:
            out[f"softirq_{name.strip().lower()}"] = float(sum(int(c) for c in counts.split()))
    return out


def _psi() -> dict[str, float]:
    out: dict[str, float] = {}
    for resource in ("cpu", "io", "memory"):
        for line in (read_text(f"/proc/pressure/{resource}") or "").splitlines():
            kind, *fields = line.split()
            for item in fields:
                if item.startswith("total="):
                    out[f"psi_{resource}_{kind}_us"] = float(item[6:])
    return out


def _vmstat(keys: Sequence[str]) -> dict[str, float]:
    wanted = set(keys)
    out: dict[str, float] = {}
    for line in (read_text("/proc/vmstat") or "").splitlines():
        key, _, value = line.partition(" ")
        if key in wanted:
            out[f"vm_{key}"] = float(value)
    return out


def _tcp() -> dict[str, float]:
    lines = [line.split() for line in (read_text("/proc/net/snmp") or "").splitlines() if line.startswith("Tcp:")]
    if len(lines) < 2:
        return {}
    return {_TCP[k]: float(v) for k, v in zip(lines[0][1:], lines[1][1:]) if k in _TCP}


def _disk_net() -> dict[str, float]:
    import psutil

    out: dict[str, float] = {}
    disk = psutil.disk_io_counters()
    if disk is not None:
        out.update(disk_read_bytes=float(disk.read_bytes), disk_write_bytes=float(disk.write_bytes),
                   disk_read_ops=float(disk.read_count), disk_write_ops=float(disk.write_count))
        if hasattr(disk, "busy_time"):
            out["disk_busy_ms"] = float(disk.busy_time)
    net = psutil.net_io_counters()
    if net is not None:
        out.update(net_bytes_sent=float(net.bytes_sent), net_bytes_recv=float(net.bytes_recv),
                   net_packets_sent=float(net.packets_sent), net_packets_recv=float(net.packets_recv),
                   net_drops=float(net.dropin + net.dropout), net_errors=float(net.errin + net.errout))
    return out


def _gauges() -> dict[str, float]:
    out = _vmstat(_VMSTAT_GAUGES)
    for line in (read_text("/proc/meminfo") or "").splitlines():
        key, _, rest = line.partition(":")
        if key in _MEMINFO_GAUGES and rest.split():
            out[_MEMINFO_GAUGES[key]] = float(rest.split()[0]) / 1024.0
    for line in (read_text("/proc/stat") or "").splitlines():
        if line.startswith(("procs_running", "procs_blocked")):
            key, value = line.split()[:2]
            out[key] = float(value)
    if hasattr(os, "getloadavg"):
        out["loadavg_1m"] = os.getloadavg()[0]
    return out


_COUNTERS: tuple[Callable[[], dict[str, float]], ...] = (
    _stat, _softirqs, _psi, lambda: _vmstat(_VMSTAT_COUNTERS), _tcp, _disk_net,
)


def _collect(sources: Sequence[Callable[[], dict[str, float]]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for source in sources:
        try:
            out.update(source())
        except Exception as exc:  # a probe never fails a window
            log.debug("probe source %s failed: %s", getattr(source, "__name__", source), exc)
    return out


def snapshot() -> dict[str, float]:
    """Every host-wide counter now (cumulative values)."""
    return _collect(_COUNTERS)


def derive(delta: dict[str, float], elapsed_s: float) -> dict[str, float]:
    """Per-window rates and shares from counter deltas over ``elapsed_s`` seconds."""
    out: dict[str, float] = {}
    total = sum(delta.get(f"cpu_{m}_s", 0.0) for m in CPU_MODES)
    if total > 0:
        for mode in CPU_MODES:
            if f"cpu_{mode}_s" in delta:
                out[f"cpu_{mode}_pct"] = 100.0 * delta[f"cpu_{mode}_s"] / total
        out["cpu_busy_s"] = sum(delta.get(f"cpu_{m}_s", 0.0) for m in (*TASK_MODES, "irq", "softirq"))
        out["cpu_busy_pct"] = 100.0 * out["cpu_busy_s"] / total
    for key in ("context_switches", "interrupts", "forks", "vm_pgfault", "vm_pgmajfault"):
        if key in delta:
            out[f"{key.removeprefix('vm_')}_per_s"] = delta[key] / elapsed_s
    for key, value in delta.items():
        if key.startswith("psi_") and key.endswith("_us"):
            out[key[:-3] + "_pct"] = 100.0 * value / (elapsed_s * 1e6)
    if "disk_busy_ms" in delta:
        out["disk_busy_pct"] = 100.0 * delta["disk_busy_ms"] / (elapsed_s * 1e3)
    return out


class ProcStatsProbe:
    """Deltas of host-wide counters over the window, rates, shares, and end-of-window gauges."""

    def __init__(self) -> None:
        self._start: dict[str, float] = {}
        self._t0 = 0.0

    def start(self, pids: Sequence[int]) -> None:
        self._t0 = time.monotonic()
        self._start = snapshot()

    def stop(self) -> dict[str, float]:
        end = snapshot()
        elapsed = max(time.monotonic() - self._t0, 1e-6)
        delta = {k: end[k] - self._start[k] for k in end if k in self._start}
        out = {**delta, **derive(delta, elapsed), **_collect((_gauges,))}
        out["window_wall_s"] = elapsed
        return out
