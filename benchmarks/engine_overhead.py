"""Engine overhead per window outside the measurement, and apply+verify time of a knob set.

    python benchmarks/engine_overhead.py                 # real host (root), osparam=all
    python benchmarks/engine_overhead.py --sandbox       # on a copy of the knob files

Drives the real engine in-process: synthetic target with zero window time, ``random`` tuner,
MLflow tracking to a temporary SQLite store, probes on, knobs this host lacks skipped. Reports the
median and p95 of ask + validate + apply (incl. read-back) + track per tuning window, and of the
apply step alone (writes of the changed knobs + read-back of all knobs). The host is restored by
the session as in any run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from hydra import compose, initialize_config_module

from sematune.components import build_components
from sematune.engine.session import RunSession
from sematune.osparams.sandbox import make_sandbox
from sematune.targets.probes import default_probes
from sematune.tracking.mlflow_tracker import MlflowTracker
from sematune.tracking.recorder import RunRecorder


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sandbox", action="store_true", help="run on a host_root copy instead of the real host")
    parser.add_argument("--windows", type=int, default=50)
    parser.add_argument("--osparam", default="all")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="st-overhead-"))
    root = "/"
    if args.sandbox:
        make_sandbox(work / "host")
        root = str(work / "host")
    with initialize_config_module(config_module="sematune.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            f"host_root={root}", f"osparam={args.osparam}", "osparam_skip_unavailable=true", "target=synthetic",
            "tuner=random", "target.window_time_scale=0", f"loop.tuning_windows={args.windows}",
            "loop.stable_windows=0", "loop.settle_seconds=0", f"host.state_dir={work / 'state'}",
        ])
    c = build_components(cfg)
    recorder = RunRecorder(c, work / "run", run_name="overhead", params={}, tags={}, resolved_config="",
                           tracker_factory=lambda: MlflowTracker(f"sqlite:///{work / 'mlflow.db'}", "overhead"))
    session = RunSession(c, work / "run", recorder, run_name="overhead", probes=default_probes())
    code = session.run()
    records = [r for r in session.engine.records if r.phase == "tuning"]
    parts = ("ask_s", "validate_s", "apply_s", "track_s")
    overhead = [sum(r.timings.get(p, 0.0) for p in parts) * 1000 for r in records]
    apply_ms = [r.timings["apply_s"] * 1000 for r in records]
    written = [len([k for k in r.applied if r.applied[k] != r.requested.get(k)]) for r in records]
    result = {
        "host": "sandbox" if args.sandbox else "real",
        "knobs": len(c.space),
        "journaled_files": len(session.report["entries"]) if session.report else None,
        "tuning_windows": len(records),
        "overhead_ms_median": round(statistics.median(overhead), 2),
        "overhead_ms_p95": round(pct(overhead, 0.95), 2),
        "apply_verify_ms_median": round(statistics.median(apply_ms), 2),
        "apply_verify_ms_p95": round(pct(apply_ms, 0.95), 2),
        "ask_ms_median": round(statistics.median(r.timings["ask_s"] * 1000 for r in records), 3),
        "track_ms_median": round(statistics.median(r.timings["track_s"] * 1000 for r in records), 2),
        "readback_mismatches": sum(1 for w in written if w),
        "restore": session.report.verify_status if session.report else None,
        "exit_code": code,
    }
    print(json.dumps(result, indent=1))
    return code


if __name__ == "__main__":
    sys.exit(main())
