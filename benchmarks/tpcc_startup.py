"""Time from ``python -m sematune target=tpcc`` to its first measured window (cached template).

    python benchmarks/tpcc_startup.py [--repeats 3] [--tracking] [--cache-dir DIR]

Each repeat runs the CLI for one 1 s window on a sandboxed host tree (no real knob writes)
and timestamps its log lines as they arrive: the server listening, the run database cloned,
and the end of window 0. "first window starts" = end of window 0 − window length (settle is
0). The first repeat may build the template (it is reported, not counted). ``--tracking``
keeps MLflow on (a store in the benchmark's working dir, created by the first repeat).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sematune.osparams.sandbox import make_sandbox

MARKS = {"listening on": "server up", "cloned from": "database cloned", "window 0 ": "window 0 done"}
WINDOW_S = 1.0


def one_run(work: Path, sandbox: Path, tracking: bool, cache_dir: str | None) -> dict[str, float]:
    argv = [sys.executable, "-m", "sematune", "target=tpcc", "tuner=fixed", "osparam=[vm_swappiness]",
            f"host_root={sandbox}", "loop.tuning_windows=1", "loop.stable_windows=0",
            f"loop.window_seconds={WINDOW_S}", "loop.settle_seconds=0", f"tracking.enabled={str(tracking).lower()}"]
    if cache_dir:
        argv.append(f"target.cache_dir={cache_dir}")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SEMATUNE_STATE_DIR": str(work / "state")}
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    marks: dict[str, float] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        for needle, name in MARKS.items():
            if needle in line and name not in marks:
                marks[name] = time.perf_counter() - t0
        if "built template database" in line:
            marks["template built"] = time.perf_counter() - t0
    code = proc.wait()
    marks["exit"] = time.perf_counter() - t0
    if code != 0 or "window 0 done" not in marks:
        raise SystemExit(f"run failed (exit {code}); see {work}")
    marks["first window starts"] = marks["window 0 done"] - WINDOW_S
    return marks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tracking", action="store_true")
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sematune-bench-startup-"))
    sandbox = work / "host"
    make_sandbox(sandbox)
    runs = []
    for i in range(args.repeats + 1):
        marks = one_run(work, sandbox, args.tracking, args.cache_dir)
        label = "warm-up" if i == 0 else f"run {i}"
        print(f"{label}: " + ", ".join(f"{k} {v:.2f} s" for k, v in marks.items()))
        if i > 0:
            if "template built" in marks:
                raise SystemExit("the template was rebuilt after the warm-up run; is the cache dir kept?")
            runs.append(marks)
    first = [r["first window starts"] for r in runs]
    print(f"\ntracking {'on' if args.tracking else 'off'}: first measured window starts after "
          f"median {statistics.median(first):.2f} s (min {min(first):.2f}, max {max(first):.2f}) over {len(runs)} runs; "
          f"server up at {statistics.median(r['server up'] for r in runs):.2f} s, "
          f"clone done at {statistics.median(r['database cloned'] for r in runs):.2f} s")
    print(f"load average: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
