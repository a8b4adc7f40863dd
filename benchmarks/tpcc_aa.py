"""TPC-C A/A: the same configuration run several times; window-to-window and run-to-run spread.

    python benchmarks/tpcc_aa.py [--runs 3] [--windows 8] [--window-seconds 5] [--clients 8]
                                 [--set checkpoint_timeout=30min ...] [--no-fixes] [--json out.json]

Each run is what ``python -m sematune target=tpcc`` does to the database: start the cached
cluster, clone the template, prewarm, start the driver, then measure windows; ``cleanup`` after.
Per window it prints tpmC, the foreign CPU (other processes on the host) and the hypervisor's
steal time (both noise the host adds), and the server's own background work in that window
(checkpoints, autovacuum/autoanalyze runs). It then reports the CV of tpmC within runs, the CV
of the run means (the "level"), and the same over clean windows only (foreign CPU below
``--clean-foreign-s``). ``--no-fixes`` runs with ``stable_server=false`` (without the target's
checkpoint/autovacuum settings) to measure the level before them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

from sematune.targets.probes.proc_stats import ProcStatsProbe
from sematune.targets.probes.process_cpu import ProcessCpuProbe
from sematune.targets.tpcc import TpccTarget


def _cv(values: list[float]) -> float:
    return statistics.stdev(values) / statistics.fmean(values) if len(values) > 1 else float("nan")


def one_run(args: argparse.Namespace, settings: dict[str, str]) -> list[dict[str, float]]:
    target = TpccTarget(warehouses=args.warehouses, clients=args.clients, cache_dir=args.cache_dir,
                        server_settings=settings, stable_server=not args.no_fixes, results_dir=tempfile.mkdtemp(prefix="sematune-tpcc-aa-"))
    rows = []
    target.pre_execute()
    try:
        for window in range(args.windows):
            time.sleep(args.settle_seconds)
            cpu, host = ProcessCpuProbe(), ProcStatsProbe()
            cpu.start(target.processes())
            host.start(target.processes())
            m = target.execute_window(window, args.window_seconds)
            own, stat = cpu.stop(), host.stop()
            row = {"tpmC": m.extra_metrics["tpmC"], "foreign_cpu_s": own.get("foreign_cpu_s", float("nan")),
                   "steal_s": stat.get("cpu_steal_s", float("nan")),
                   "checkpoints": m.extra_metrics.get("server_checkpoints", 0.0),
                   "autovacuums": m.extra_metrics.get("server_autovacuums", 0.0), "load1": os.getloadavg()[0]}
            rows.append(row)
            print(f"  window {window}: tpmC {row['tpmC']:8.0f}  foreign {row['foreign_cpu_s']:5.2f} s  "
                  f"steal {row['steal_s']:5.2f} s  checkpoints {row['checkpoints']:.0f}  "
                  f"autovacuums {row['autovacuums']:.0f}  load1 {row['load1']:.2f}", flush=True)
    finally:
        target.cleanup()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--windows", type=int, default=8)
    parser.add_argument("--window-seconds", type=float, default=5.0)
    parser.add_argument("--settle-seconds", type=float, default=1.0)
    parser.add_argument("--warehouses", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="server setting")
    parser.add_argument("--no-fixes", action="store_true", help="stable_server=false (no stability settings)")
    parser.add_argument("--clean-foreign-s", type=float, default=0.25, help="clean window: foreign CPU below this")
    parser.add_argument("--json", default=None, help="write all windows here")
    args = parser.parse_args()
    settings = {"shared_buffers": "256MB", "max_connections": "100", **dict(i.split("=", 1) for i in args.set)}
    print(f"server settings: {settings}, stability settings {'off' if args.no_fixes else 'on'}")
    runs = []
    for run in range(args.runs):
        print(f"run {run}:", flush=True)
        runs.append(one_run(args, settings))
    means = [statistics.fmean(r["tpmC"] for r in rows) for rows in runs]
    within = statistics.fmean(_cv([r["tpmC"] for r in rows]) for rows in runs)
    clean = [[r["tpmC"] for r in rows if r["foreign_cpu_s"] < args.clean_foreign_s] for rows in runs]
    print(f"\n{args.runs} runs × {args.windows} × {args.window_seconds:g} s, {args.clients} clients, "
          f"{args.warehouses} WH, {os.cpu_count()} CPUs")
    print("run means: " + ", ".join(f"{m:.0f}" for m in means) + f"; run-to-run CV {_cv(means):.1%}; "
          f"mean within-run CV {within:.1%}")
    if all(len(c) >= 2 for c in clean):
        cm = [statistics.fmean(c) for c in clean]
        print("clean-window run means: " + ", ".join(f"{m:.0f} (n={len(c)})" for m, c in zip(cm, clean))
              + f"; run-to-run CV {_cv(cm):.1%}")
    else:
        print(f"fewer than 2 clean windows (foreign CPU < {args.clean_foreign_s} s) in some run: no clean comparison")
    print(f"checkpoints in windows: {sum(r['checkpoints'] for rows in runs for r in rows):.0f}, "
          f"autovacuum runs: {sum(r['autovacuums'] for rows in runs for r in rows):.0f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"settings": settings, "args": vars(args), "runs": runs}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
