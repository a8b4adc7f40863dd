"""CPU used by the target's processes versus everything else on the host (``foreign_cpu_s``)."""

from __future__ import annotations

import os
from typing import Sequence

import psutil

from sematune.targets.probes.proc_stats import _stat


def _tree_cpu(pids: Sequence[int]) -> tuple[float, dict[int, float]]:
    """Summed user+system CPU seconds of ``pids`` and their descendants."""
    seen: dict[int, float] = {}
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for proc in procs:
            if proc.pid in seen:
                continue
            try:
                t = proc.cpu_times()
                seen[proc.pid] = t.user + t.system
            except psutil.Error:
                continue
    return sum(seen.values()), seen


class ProcessCpuProbe:
    """Own CPU = target's process tree + this process (the driver); foreign = host busy − own.

    Processes that exit during the window are counted up to their last sample. ``/proc/stat``
    is tick-sampled, so ``foreign_cpu_s`` is clamped at 0.
    """

    def __init__(self) -> None:
        self._pids: list[int] = []
        self._own0: dict[int, float] = {}
        self._busy0 = 0.0

    @staticmethod
    def _busy() -> float:
        stat = _stat()
        return sum(v for k, v in stat.items() if k.startswith("cpu_") and k not in ("cpu_idle_s", "cpu_iowait_s"))

    def start(self, pids: Sequence[int]) -> None:
        self._pids = [*pids, os.getpid()]
        _, self._own0 = _tree_cpu(self._pids)
        self._busy0 = self._busy()

    def stop(self) -> dict[str, float]:
        busy = self._busy() - self._busy0
        _, own1 = _tree_cpu(self._pids)
        own = sum(own1[p] - self._own0.get(p, 0.0) for p in own1)
        return {
            "own_cpu_s": own,
            "host_busy_cpu_s": busy,
            "foreign_cpu_s": max(busy - own, 0.0),
            "target_processes": float(sum(1 for p in own1 if p != os.getpid())),
        }
