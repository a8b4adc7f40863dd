"""Per-window cost of the system probes (``default_probes()``): start + stop, and the sampler.

    python benchmarks/probe_overhead.py [--windows 200] [--children 4]

Runs the real probes around empty windows in this process, with ``--children`` sleeping child
processes as the target's tree (a server plus its workers). Reports the median and p95 wall time
of start and stop per probe, the whole set's CPU time per window, and the cost of one background
sample of the process tree (taken every ``sample_interval_s`` while a window runs).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from sematune.targets.probes import default_probes
from sematune.targets.probes.process_cpu import ProcessCpuProbe


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=200)
    parser.add_argument("--children", type=int, default=4)
    args = parser.parse_args()
    children = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
                for _ in range(args.children)]
    try:
        probes = default_probes()
        pids = [c.pid for c in children]
        for p in probes:  # first window: perf support probe, imports
            p.start(pids)
            p.stop()
        per_probe: dict[str, tuple[list[float], list[float]]] = {type(p).__name__: ([], []) for p in probes}
        cpu: list[float] = []
        for _ in range(args.windows):
            c0 = time.process_time()
            for p in probes:
                t0 = time.perf_counter()
                p.start(pids)
                per_probe[type(p).__name__][0].append(time.perf_counter() - t0)
            for p in probes:
                t0 = time.perf_counter()
                p.stop()
                per_probe[type(p).__name__][1].append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        sampler = ProcessCpuProbe()
        sampler._roots = [*pids]
        samples = []
        for _ in range(args.windows):
            t0 = time.perf_counter()
            sampler._sample()
            samples.append(time.perf_counter() - t0)
        print(f"{args.windows} windows, {args.children} target processes")
        total_start = total_stop = 0.0
        for name, (starts, stops) in per_probe.items():
            total_start += statistics.median(starts)
            total_stop += statistics.median(stops)
            print(f"  {name:18s} start median {statistics.median(starts) * 1e3:6.2f} ms"
                  f"  p95 {pct(starts, .95) * 1e3:6.2f} | stop median {statistics.median(stops) * 1e3:6.2f} ms"
                  f"  p95 {pct(stops, .95) * 1e3:6.2f}")
        print(f"  all probes: start+stop median {(total_start + total_stop) * 1e3:.2f} ms per window; "
              f"CPU per window median {statistics.median(cpu) * 1e3:.2f} ms, p95 {pct(cpu, .95) * 1e3:.2f} ms")
        print(f"  one tree sample (every {ProcessCpuProbe().sample_interval_s:g} s during a window): "
              f"median {statistics.median(samples) * 1e3:.3f} ms, p95 {pct(samples, .95) * 1e3:.3f} ms")
    finally:
        for c in children:
            c.kill()
            c.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
