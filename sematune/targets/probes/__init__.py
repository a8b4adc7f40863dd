"""System probes sampled around every window: proxy metrics from /proc and psutil.

Each probe has ``start(pids)`` and ``stop() -> {name: value}``; the engine merges the values
into ``BenchmarkMetrics.system``. Probes never raise on a host that lacks a source; the
metric is simply missing.
"""

from __future__ import annotations

from sematune.targets.probes.proc_stats import ProcStatsProbe
from sematune.targets.probes.process_cpu import ProcessCpuProbe


def default_probes() -> list:
    """The probes every run uses unless ``probes=false``."""
    return [ProcStatsProbe(), ProcessCpuProbe()]


__all__ = ["ProcStatsProbe", "ProcessCpuProbe", "default_probes"]
