"""CPU used by the target's processes versus everything else (``foreign_cpu_s``), and their
run-queue wait from per-task schedstat.

"Own" processes are the target's (``Target.processes()``) plus SemaTune's own process (in-process
drivers run there) and every descendant of either. Own CPU per process is user + system time
*including reaped children* (``cutime``/``cstime`` of /proc/<pid>/stat), so a benchmark that
starts and exits inside the window is counted through its parent; a process that vanishes has
its start value subtracted, since its whole lifetime arrived in its parent's children time.
Foreign CPU = host task time (user + nice + system from /proc/stat) − own, clamped at 0: both
are tick-sampled, so small negative differences are noise. Interrupt and softirq time (e.g.
loopback networking) is in neither.

Per-task schedstat (``/proc/<pid>/task/<tid>/schedstat``: run ns, run-queue wait ns,
timeslices) is summed over every thread of the own processes; a light sampler thread re-reads
the tree every ``sample_interval_s`` so that threads which exit before the window ends still
count up to their last sample. /proc/schedstat is not needed (it is absent when
CONFIG_SCHEDSTATS is off; per-task schedstat still works).
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Optional, Sequence

from sematune.targets.probes.proc_stats import TASK_MODES, TICKS, cpu_times, read_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcSample:
    """One process: its identity (start time) and cumulative CPU in seconds."""

    pid: int
    ppid: int
    start_ticks: int
    cpu_s: float  # utime + stime + cutime + cstime


@dataclass(frozen=True)
class TaskSample:
    run_ns: int
    wait_ns: int
    slices: int


def read_proc(pid: int) -> Optional[ProcSample]:
    """Parse /proc/<pid>/stat (None if the process is gone)."""
    text = read_text(f"/proc/{pid}/stat")
    if not text:
        return None
    try:
        fields = text[text.rindex(")") + 2:].split()
        utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
        return ProcSample(pid, int(fields[1]), int(fields[19]), (utime + stime + cutime + cstime) / TICKS)
    except (ValueError, IndexError):
        return None


def _tids(pid: int) -> list[int]:
    try:
        return [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except (OSError, ValueError):
        return []


def read_tasks(pid: int, skip_tid: int = 0) -> tuple[dict[int, TaskSample], list[int]]:
    """Schedstat of every thread of ``pid`` and the pids of its children."""
    tasks: dict[int, TaskSample] = {}
    children: list[int] = []
    for tid in _tids(pid):
        base = f"/proc/{pid}/task/{tid}"
        kids = read_text(f"{base}/children")
        if kids:
            children.extend(int(c) for c in kids.split())
        if tid == skip_tid:
            continue
        stat = (read_text(f"{base}/schedstat") or "").split()
        if len(stat) >= 3:
            tasks[tid] = TaskSample(int(stat[0]), int(stat[1]), int(stat[2]))
    return tasks, children


def task_time_s() -> Optional[float]:
    """Host-wide CPU seconds spent running tasks (user + nice + system)."""
    times = cpu_times()
    return sum(times.get(m, 0.0) for m in TASK_MODES) if times else None


class _Tree:
    """One walk of the own process tree: processes by pid, threads by (pid, start, tid)."""

    def __init__(self, roots: Sequence[int], skip_tid: int) -> None:
        self.procs: dict[int, ProcSample] = {}
        self.tasks: dict[tuple[int, int, int], TaskSample] = {}
        todo = list(dict.fromkeys(roots))
        while todo:
            pid = todo.pop()
            if pid in self.procs:
                continue
            proc = read_proc(pid)
            if proc is None:
                continue
            self.procs[pid] = proc
            tasks, children = read_tasks(pid, skip_tid)
            for tid, sample in tasks.items():
                self.tasks[(pid, proc.start_ticks, tid)] = sample
            if not children and not os.path.exists(f"/proc/{pid}/task/{pid}/children"):
                children = _children_fallback(pid)
            todo.extend(c for c in children if c not in self.procs)


def _children_fallback(pid: int) -> list[int]:
    """Children via psutil when the kernel lacks /proc/<pid>/task/<tid>/children."""
    try:
        import psutil

        return [c.pid for c in psutil.Process(pid).children()]
    except Exception:
        return []


class ProcessCpuProbe:
    """Own vs foreign CPU of a window, plus the own threads' run time and run-queue wait."""

    def __init__(self, sample_interval_s: float = 0.5) -> None:
        self.sample_interval_s = sample_interval_s
        self._roots: list[int] = []
        self._first: Optional[_Tree] = None
        self._seen_procs: dict[int, ProcSample] = {}
        self._seen_tasks: dict[tuple[int, int, int], TaskSample] = {}
        self._busy0: Optional[float] = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._sampler_tid = 0
        self._lock = threading.Lock()

    # -- sampling -----------------------------------------------------------------------------
    def _sample(self) -> _Tree:
        tree = _Tree(self._roots, self._sampler_tid)
        with self._lock:
            for pid, proc in tree.procs.items():
                self._seen_procs[pid] = proc
            self._seen_tasks.update(tree.tasks)
        return tree

    def _run_sampler(self) -> None:
        self._sampler_tid = threading.get_native_id()
        while not self._stop.wait(self.sample_interval_s):
            try:
                self._sample()
            except Exception as exc:
                log.debug("process sampler: %s", exc)

    def _stop_sampler(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=2.0)
            self._thread = None

    def start(self, pids: Sequence[int]) -> None:
        self._stop_sampler()  # a window whose stop() never came
        try:
            self._roots = [*pids, os.getpid()]
            self._seen_procs, self._seen_tasks = {}, {}
            self._first = self._sample()
            self._busy0 = task_time_s()
            if self.sample_interval_s > 0:
                self._stop.clear()
                self._thread = threading.Thread(target=self._run_sampler, name="sematune-probe", daemon=True)
                self._thread.start()
        except Exception as exc:  # a probe never fails a window
            log.debug("process probe start failed: %s", exc)
            self._first = None

    def stop(self) -> dict[str, float]:
        self._stop_sampler()
        if self._first is None:
            return {}
        try:
            return self._measure(self._first)
        except Exception as exc:  # a probe never fails a window
            log.debug("process probe stop failed: %s", exc)
            return {}
        finally:
            self._first = None

    def _measure(self, first: _Tree) -> dict[str, float]:
        busy1 = task_time_s()
        last = self._sample()
        out = self._own_cpu(first, last)
        if busy1 is not None and self._busy0 is not None:
            busy = busy1 - self._busy0
            out["host_busy_cpu_s"] = busy
            out["foreign_cpu_s"] = max(busy - out["own_cpu_s"], 0.0)
        out.update(self._schedstat(first))
        me = os.getpid()
        out["target_processes"] = float(sum(1 for pid in self._seen_procs if pid != me))
        return out

    # -- accounting ---------------------------------------------------------------------------
    def _own_cpu(self, first: _Tree, last: _Tree) -> dict[str, float]:
        def at_start(proc: ProcSample) -> float:
            before = first.procs.get(proc.pid)
            return before.cpu_s if before is not None and before.start_ticks == proc.start_ticks else 0.0

        own = 0.0
        for proc in last.procs.values():
            own += proc.cpu_s - at_start(proc)
        for pid, proc in self._seen_procs.items():
            current = last.procs.get(pid)
            if current is not None and current.start_ticks == proc.start_ticks:
                continue  # still there: counted above
            if proc.ppid in self._seen_procs:
                own -= at_start(proc)  # its whole lifetime arrived in a tracked parent's children time
            else:
                own += proc.cpu_s - at_start(proc)  # orphaned: count up to its last sample
        return {"own_cpu_s": max(own, 0.0)}

    def _schedstat(self, first: _Tree) -> dict[str, float]:
        run = wait = slices = 0
        for key, sample in self._seen_tasks.items():
            before = first.tasks.get(key)
            run += sample.run_ns - (before.run_ns if before else 0)
            wait += sample.wait_ns - (before.wait_ns if before else 0)
            slices += sample.slices - (before.slices if before else 0)
        if not self._seen_tasks:
            return {}
        out = {"target_run_s": run / 1e9, "target_wait_s": wait / 1e9, "target_timeslices": float(slices),
               "target_threads": float(len(self._seen_tasks))}
        if run + wait > 0:
            out["target_wait_ratio"] = wait / (run + wait)
        if slices > 0:
            out["target_wait_per_slice_us"] = wait / slices / 1e3
        return out
