"""How long a sweep's comparison report takes: reading the runs, computing, plotting, writing.

Makes a synthetic sweep on disk (targets × tuners × seeds, paper-length runs of 51 windows with 8
knobs), then times ``load_sweep_dir``, ``build_report`` (2000 bootstrap replicates), the plots and
files (``write_report``), and reading the same runs back from an MLflow SQLite store (one
``history.jsonl`` download per run).

    python benchmarks/report_build.py [--targets 4] [--tuners 6] [--seeds 5] [--mlflow-runs 24]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import tempfile
import time
from pathlib import Path

import yaml

from sematune.engine.records import TunerInfo, WindowRecord
from sematune.report import write_report
from sematune.tracking.comparison import build_report
from sematune.tracking.sweep_runs import job_tags, load_parent_run, load_sweep_dir
from sematune.tuners.base import TokenUsage

PHASES = ["baseline"] + ["tuning"] * 30 + ["stable"] * 20
KNOBS = [f"knob_{i}" for i in range(8)]


def history(rng: random.Random, tuner: str, llm: bool) -> list[WindowRecord]:
    out = []
    for w, phase in enumerate(PHASES):
        gain = 1.0 if tuner == "fixed" or phase == "baseline" else rng.uniform(0.8, 1.3)
        usage = TokenUsage(input_tokens=1200, output_tokens=300, cost_usd=0.002) if llm and phase == "tuning" else None
        out.append(WindowRecord(window=w, phase=phase, objective=1000 * gain * rng.gauss(1, 0.1), reward=1.0,
                                applied={k: rng.randint(0, 100) for k in KNOBS}, tuner=TunerInfo(token_usage=usage)))
    return out


def make_sweep(root: Path, targets: int, tuners: int, seeds: int) -> list[list[str]]:
    names = ["fixed"] + [f"tuner{i}" for i in range(1, tuners)]
    grid = [f"target={','.join(f't{i}' for i in range(targets))}", f"tuner={','.join(names)}",
            f"seed={','.join(str(s) for s in range(seeds))}"]
    (root / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {"overrides": {"task": grid}}}))
    rng = random.Random(0)
    jobs, num = [], 0
    for t in range(targets):
        for tuner in names:
            for seed in range(seeds):
                overrides = [f"target=t{t}", f"tuner={tuner}", f"seed={seed}"]
                job = root / f"{num}_{tuner}_t{t}_s{seed}"
                (job / ".hydra").mkdir(parents=True)
                (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
                (job / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump(
                    {"hydra": {"runtime": {"choices": {"target": f"t{t}", "tuner": tuner}}}}))
                (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"seed": seed}))
                with open(job / "history.jsonl", "w") as fh:
                    for r in history(rng, tuner, llm=tuner == names[-1]):
                        fh.write(r.model_dump_json() + "\n")
                (job / "summary.json").write_text(json.dumps(
                    {"status": "FINISHED", "objective_metric": "throughput", "goal": "maximize"}))
                jobs.append(overrides)
                num += 1
    return jobs


def timed(label: str, fn):  # noqa: ANN001, ANN202
    t0 = time.perf_counter()
    value = fn()
    print(f"{label:<48} {time.perf_counter() - t0:8.2f} s")
    return value


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", type=int, default=4)
    ap.add_argument("--tuners", type=int, default=6)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--mlflow-runs", type=int, default=24)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="st-report-bench-"))
    try:
        sweep = tmp / "sweep"
        sweep.mkdir()
        jobs = timed("write the synthetic sweep", lambda: make_sweep(sweep, args.targets, args.tuners, args.seeds))
        print(f"  {len(jobs)} runs × {len(PHASES)} windows")
        runs = timed("load_sweep_dir", lambda: load_sweep_dir(sweep))
        timed("build_report (2000 bootstrap replicates)", lambda: build_report(runs.jobs))
        _, files, _ = timed("write_report (compute + plots + html/md/json)", lambda: write_report(runs, tmp / "out"))
        print(f"  {len(files)} files, {sum(p.stat().st_size for p in files) / 1e6:.1f} MB")

        from sematune.tracking.mlflow_tracker import mlflow_client, quiet_mlflow_logs

        quiet_mlflow_logs()
        os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
        client = mlflow_client(f"sqlite:///{tmp / 'mlflow.db'}")
        exp = client.create_experiment("bench", artifact_location=str(tmp / "artifacts"))
        parent = client.create_run(exp, tags={"sematune.kind": "sweep"}).info.run_id
        n = min(args.mlflow_runs, len(jobs))

        def log_runs() -> None:
            dirs = sorted(sweep.glob("*_*_t*_s*"), key=lambda p: int(p.name.split("_")[0]))
            for overrides, job_dir in zip(jobs[:n], dirs):
                tags = {"mlflow.parentRunId": parent, "target": overrides[0][7:], "tuner": overrides[1][6:],
                        "seed": overrides[2][5:], "objective": "throughput (maximize)", **job_tags(overrides)}
                run = client.create_run(exp, tags=tags).info.run_id
                client.log_artifact(run, str(job_dir / "history.jsonl"))
                client.set_terminated(run)

        timed(f"log {n} runs' history.jsonl to MLflow (setup)", log_runs)
        timed(f"load_parent_run ({n} runs from SQLite)", lambda: load_parent_run(client, parent))
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
