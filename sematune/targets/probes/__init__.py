"""System probes sampled around every window: proxy metrics from /proc, psutil and perf events.

Each probe has ``start(pids)`` and ``stop() -> {name: value}``; the engine merges the values
into ``BenchmarkMetrics.system``. Probes never raise, and a source this host lacks (PSI, a
PMU, per-task children lists…) simply leaves its metrics missing.
"""

from __future__ import annotations

from sematune.targets.probes.perf_events import PerfEventProbe
from sematune.targets.probes.proc_stats import ProcStatsProbe
from sematune.targets.probes.process_cpu import ProcessCpuProbe


def default_probes() -> list:
    """The probes every run uses unless ``probes=false``."""
    return [ProcStatsProbe(), ProcessCpuProbe(), PerfEventProbe()]


__all__ = ["PerfEventProbe", "ProcStatsProbe", "ProcessCpuProbe", "default_probes"]
