"""TPC-C at the target's defaults: window-to-window CV of tpmC, and the driver's CPU share.

    python benchmarks/tpcc_driver.py [--windows 10] [--window-seconds 5] [--driver psycopg]
                                      [--warehouses 2] [--clients 8] [--cache-dir DIR]

Runs the real target (cached template, fresh clone, psycopg driver threads in this process)
for ``--windows`` windows and prints per window: tpmC, transactions/s, the driver's CPU
(this process's user+system time — the main thread only sleeps, so it is all terminal
threads; for ``--driver pgbench`` the pgbench child's), and the foreign CPU of other
processes on the host (the noise source). Then the CV of tpmC, the driver's share of one
core and its CPU per transaction.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time

from sematune.targets.probes.process_cpu import ProcessCpuProbe
from sematune.targets.tpcc import TpccTarget


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=10)
    parser.add_argument("--window-seconds", type=float, default=5.0)
    parser.add_argument("--settle-seconds", type=float, default=1.0)
    parser.add_argument("--driver", default="psycopg", choices=["psycopg", "pgbench"])
    parser.add_argument("--warehouses", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args()
    target = TpccTarget(warehouses=args.warehouses, clients=args.clients, driver=args.driver,
                        cache_dir=args.cache_dir, results_dir=tempfile.mkdtemp(prefix="sematune-bench-tpcc-"))
    who = resource.RUSAGE_SELF if args.driver == "psycopg" else resource.RUSAGE_CHILDREN
    rows = []
    target.pre_execute()
    try:
        probe = ProcessCpuProbe()
        for window in range(args.windows):
            time.sleep(args.settle_seconds)
            probe.start(target.processes())
            c0, t0 = _cpu(who), time.perf_counter()
            metrics = target.execute_window(window, args.window_seconds)
            driver_s, wall = _cpu(who) - c0, time.perf_counter() - t0
            system = probe.stop()
            tx = metrics.goodput or 0.0  # completed transactions/s
            rows.append((metrics.extra_metrics["tpmC"], tx, driver_s, wall, system.get("foreign_cpu_s", float("nan"))))
            print(f"window {window}: tpmC {rows[-1][0]:9.0f}  tx/s {tx:7.0f}  driver CPU {driver_s / wall:6.1%}  "
                  f"foreign CPU {rows[-1][4]:5.2f} s")
    finally:
        target.cleanup()
    tpmc = [r[0] for r in rows]
    mean, sd = statistics.fmean(tpmc), statistics.stdev(tpmc) if len(tpmc) > 1 else 0.0
    driver_share = sum(r[2] for r in rows) / sum(r[3] for r in rows)
    per_tx_us = 1e6 * sum(r[2] for r in rows) / sum(r[1] * r[3] for r in rows)
    print(f"\n{args.driver} driver, {args.warehouses} WH, {args.clients} clients, {args.windows} × "
          f"{args.window_seconds:g} s windows on {os.cpu_count()} CPUs")
    print(f"tpmC mean {mean:.0f}, sd {sd:.0f}, CV {sd / mean:.1%} (min {min(tpmc):.0f}, max {max(tpmc):.0f})")
    print(f"driver CPU: {driver_share:.1%} of one core, {per_tx_us:.0f} µs per transaction")
    print(f"foreign CPU per window: median {statistics.median(r[4] for r in rows):.2f} s, "
          f"max {max(r[4] for r in rows):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
