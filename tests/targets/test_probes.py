"""System probes: host counters, own vs foreign CPU, per-task schedstat, perf events — values present
and plausible on real busy loops, and never an exception where a source is missing."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from sematune.targets.probes import PerfEventProbe, ProcStatsProbe, ProcessCpuProbe, default_probes
from sematune.targets.probes.perf_events import HARDWARE_EVENTS
from sematune.targets.probes.proc_stats import _collect
from tests.conftest import missing

PY = sys.executable


def burn(cpu_s: float) -> list[str]:
    """argv of a process that uses ``cpu_s`` seconds of CPU (however long that takes)."""
    return [PY, "-c", f"import time\nend = time.process_time() + {cpu_s}\nwhile time.process_time() < end: pass"]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def spin(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_host_counters_on_a_busy_loop() -> None:
    probe = ProcStatsProbe()
    probe.start([])
    spin(0.5)
    time.sleep(0.1)
    out = probe.stop()
    assert out["cpu_busy_s"] >= 0.3 and out["cpu_user_s"] > 0
    assert sum(out[f"cpu_{m}_pct"] for m in ("user", "nice", "system", "idle", "iowait", "irq", "softirq",
                                               "steal")) == pytest.approx(100.0)
    assert "cpu_steal_s" in out and out["cpu_steal_s"] >= 0
    assert out["context_switches"] > 0 and out["interrupts"] > 0 and out["context_switches_per_s"] > 0
    assert 0.5 <= out["window_wall_s"] < 5
    assert any(k.startswith("softirq_") for k in out) and "vm_pgfault" in out and "vm_thp_fault_alloc" in out
    assert "disk_read_bytes" in out and "net_bytes_recv" in out and out["mem_available_mib"] > 0
    if os.path.exists("/proc/pressure/cpu"):
        assert out["psi_cpu_some_us"] >= 0 and 0 <= out["psi_cpu_some_pct"] <= 100
    assert "loadavg_1m" in out and "procs_running" in out


def test_a_failing_source_only_loses_its_keys() -> None:
    def broken() -> dict[str, float]:
        raise RuntimeError("no such counter")

    assert _collect((broken, lambda: {"x": 1.0})) == {"x": 1.0}


def test_own_cpu_counts_a_child_that_runs_and_exits_inside_the_window() -> None:
    probe = ProcessCpuProbe(sample_interval_s=0.2)
    probe.start([])
    before = children_cpu()
    subprocess.run(burn(0.6), check=True)
    truth = children_cpu() - before
    out = probe.stop()
    assert truth >= 0.55
    assert out["own_cpu_s"] >= truth - 0.05  # reaped children's time arrives through our cutime
    assert out["host_busy_cpu_s"] >= truth - 0.1
    assert out["foreign_cpu_s"] <= out["host_busy_cpu_s"] - truth + 0.1
    assert out["target_processes"] >= 1  # the sampler saw it
    assert out["target_run_s"] > 0.1 and out["target_wait_s"] >= 0 and 0 <= out["target_wait_ratio"] < 1


def test_a_process_alive_at_start_is_counted_from_the_start_only() -> None:
    before = children_cpu()
    child = subprocess.Popen(burn(1.2))
    time.sleep(0.6)
    probe = ProcessCpuProbe(sample_interval_s=0.2)
    t = psutil.Process(child.pid).cpu_times()
    at_start = t.user + t.system
    probe.start([child.pid])
    child.wait()
    out = probe.stop()
    lifetime = children_cpu() - before
    assert at_start > 0.1
    assert out["own_cpu_s"] == pytest.approx(lifetime - at_start, abs=0.08)


def test_foreign_cpu_counts_a_neighbour_that_is_not_ours() -> None:
    """A busy process that is not in the target's tree (a double-forked daemon) is foreign."""
    script = ("import os, sys, time\n"
              "if os.fork(): os._exit(0)\n"
              "os.setsid(); print(os.getpid(), flush=True)\n"
              "null = os.open(os.devnull, os.O_RDWR); os.dup2(null, 1); os.dup2(null, 2)\n"
              "end = time.process_time() + 1.5\n"
              "while time.process_time() < end: pass\n")
    launcher = subprocess.run([PY, "-c", script], capture_output=True, text=True, check=True)
    neighbour = psutil.Process(int(launcher.stdout.split()[0]))
    try:
        probe = ProcessCpuProbe()
        t0 = neighbour.cpu_times()
        probe.start([])
        time.sleep(0.8)
        t1 = neighbour.cpu_times()
        out = probe.stop()
        used = (t1.user + t1.system) - (t0.user + t0.system)
        assert used > 0.2
        assert out["foreign_cpu_s"] >= used - 0.1
        assert out["own_cpu_s"] < 0.3  # we slept
    finally:
        try:
            neighbour.kill()
        except psutil.Error:
            pass


def test_missing_processes_do_not_break_the_probe() -> None:
    probe = ProcessCpuProbe()
    probe.start([2 ** 22 + 12345, -1])
    out = probe.stop()
    assert out["own_cpu_s"] >= 0 and "foreign_cpu_s" in out
    assert ProcessCpuProbe().stop() == {}  # stop without start


@pytest.mark.requires(root=True, reason="system-wide perf events need root (CAP_PERFMON)")
def test_perf_software_events_and_hardware_only_where_supported() -> None:
    probe = PerfEventProbe()
    probe.start([])
    for _ in range(50):
        time.sleep(0.001)  # context switches
    out = probe.stop()
    assert out["perf_context_switches"] > 0 and out["perf_page_faults"] >= 0
    hardware = set(HARDWARE_EVENTS)
    if hardware <= set(probe.supported):
        assert out["perf_ipc"] > 0
    else:  # a VM without a PMU (as here): missing, never 0.0
        assert "perf_ipc" not in out and set(probe.unsupported) >= hardware - set(probe.supported)
        assert not any(k in out for k in hardware - set(probe.supported))
    probe.start([])  # reusable across windows
    for _ in range(50):
        time.sleep(0.001)
    assert probe.stop()["perf_context_switches"] > 0
    probe.close()


def test_perf_event_the_kernel_rejects_is_missing() -> None:
    probe = PerfEventProbe(events={"perf_bogus": (0x7FFF, 0)})
    probe.start([])
    assert probe.stop() == {} and "perf_bogus" in probe.unsupported


def test_perf_without_permission_reports_nothing_and_never_raises(tmp_path: Path) -> None:
    """In a user namespace even root lacks CAP_PERFMON on the host: every perf event is refused."""
    paranoid = Path("/proc/sys/kernel/perf_event_paranoid").read_text().strip()
    unshare = shutil.which("unshare")
    if unshare is None or int(paranoid) <= 0:
        missing("needs util-linux unshare and perf_event_paranoid > 0")
    code = ("import json\n"
            "from sematune.targets.probes import default_probes\n"
            "probes = default_probes(); [p.start([]) for p in probes]\n"
            "out = {}\n"
            "for p in probes: out.update(p.stop())\n"
            "print(json.dumps({'perf': sorted(k for k in out if k.startswith('perf_')),"
            " 'own': 'own_cpu_s' in out, 'cpu': 'cpu_user_s' in out, 'why': probes[2].unsupported}))")
    result = subprocess.run([unshare, "--user", "--map-root-user", PY, "-c", code], capture_output=True,
                            text=True, cwd=Path(__file__).resolve().parents[2], timeout=60)
    if result.returncode != 0 and "unshare failed" in result.stderr:
        missing(f"no user namespaces here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["perf"] == [] and report["own"] and report["cpu"]  # the other probes still work
    assert "perf_context_switches" in report["why"]


def test_default_probes_together() -> None:
    probes = default_probes()
    for p in probes:
        p.start([os.getpid()])
    spin(0.2)
    out: dict[str, float] = {}
    for p in probes:
        out.update(p.stop())
    assert {"cpu_user_pct", "own_cpu_s", "foreign_cpu_s", "psi_cpu_some_us", "target_wait_s"} <= set(out)
    assert all(isinstance(v, float) for v in out.values())
