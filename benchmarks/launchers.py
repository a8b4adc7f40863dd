"""What a scheduler costs a sweep: the same 4-job sweep run locally (Hydra's basic launcher, jobs in
the submitting process), through a local Ray cluster and through a one-node SLURM cluster.

Every job tunes its own sandbox host tree and logs to one MLflow server on PostgreSQL (as in
docs/distributed.md); the jobs run one after another in every case (one host: Ray's
``sematune_host`` resource, SLURM's ``--exclusive`` node). Per launcher and round: the sweep's wall
time, the jobs' own run time (MLflow run start → end, summed), and the per-job overhead
``(wall − Σ run time) / jobs`` — process start, submission, scheduling, polling, and the sweep's
own start and report, which the local launcher pays too; the difference to local is what the
scheduler adds — and the gap between jobs (one job's run end → the next one's run start, median):
scheduling plus a new process's start-up, where the local launcher only composes the next config.
Rounds interleave the launchers.

    python benchmarks/launchers.py --rounds 2 --json benchmarks/results/launchers.json \
        --markdown benchmarks/results/launchers.md
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from sematune.osparams.sandbox import make_sandbox  # noqa: E402
from sematune.targets.postgres import default_cache_dir  # noqa: E402
from sematune.tracking.mlflow_tracker import mlflow_client  # noqa: E402
from tests.distributed.clusters import ray_cluster, slurm_cluster  # noqa: E402
from tests.tracking.servers import mlflow_server, postgres_database, postgres_uri  # noqa: E402
from bench_output import write_outputs  # noqa: E402

SWEEP = ["experiment=quick", "target=synthetic", "tuner=fixed,random", "seed=1,2", "probes=false"]


@contextlib.contextmanager
def launchers(names: list[str]) -> Iterator[dict[str, tuple[list[str], dict[str, str]]]]:
    """Launcher name → (its command-line arguments, its environment), clusters up while inside."""
    with contextlib.ExitStack() as stack:
        found: dict[str, tuple[list[str], dict[str, str]]] = {}
        for name in names:
            if name == "local":
                found[name] = ([], dict(os.environ))
            elif name == "ray":
                address = stack.enter_context(ray_cluster())
                found[name] = (["hydra/launcher=ray", f"hydra.launcher.ray.init.address={address}"], dict(os.environ))
            elif name == "slurm":
                found[name] = (["hydra/launcher=submitit_slurm"], stack.enter_context(slurm_cluster()))
            else:
                raise SystemExit(f"unknown launcher {name!r} (local, ray, slurm)")
        yield found


def sweep(name: str, args: list[str], env: dict[str, str], work: Path, url: str, snapshot: Path) -> dict[str, Any]:
    """One sweep; its wall time and its jobs' run times from MLflow."""
    hosts = work / "hosts"
    for n in range(4):
        shutil.copytree(snapshot, hosts / f"h{n}", symlinks=True)
    experiment = f"launchers-{name}-{work.name}"
    cmd = [sys.executable, "-m", "sematune", "-m", *args, *SWEEP, f"host_root={hosts}/h${{hydra:job.num}}",
           f"host.state_dir={hosts}/h${{hydra:job.num}}/var/lib/sematune", f"hydra.sweep.dir={work / 'sweep'}",
           f"tracking.tracking_uri={url}", f"tracking.experiment={experiment}"]
    start = time.monotonic()
    res = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=1800)
    wall = time.monotonic() - start
    if res.returncode != 0:
        raise SystemExit(f"{name} sweep failed ({res.returncode}): {res.stderr[-3000:]}")
    client = mlflow_client(url)
    exp = client.get_experiment_by_name(experiment)
    runs = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("mlflow.parentRunId")]
    run_s = [(r.info.end_time - r.info.start_time) / 1000 for r in runs]
    spans = sorted((r.info.start_time, r.info.end_time) for r in runs)
    gaps = [(start - end) / 1000 for (_, end), (start, _) in zip(spans, spans[1:])]
    return {"launcher": name, "wall_s": wall, "jobs": len(runs), "run_s": sum(run_s),
            "overhead_per_job_s": (wall - sum(run_s)) / len(runs), "gap_s": statistics.median(gaps)}


def table(rows: list[dict[str, Any]]) -> str:
    by: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by.setdefault(row["launcher"], []).append(row)
    local = statistics.median(r["wall_s"] for r in by.get("local", [])) if "local" in by else None
    lines = ["| launcher | rounds | sweep wall time (s) | Σ job run time (s) | overhead per job (s) | "
             "gap between jobs (s) | wall vs local |", "|---|---|---|---|---|---|---|"]
    for name, group in by.items():
        wall = [r["wall_s"] for r in group]
        vs = f"{statistics.median(wall) / local:.2f}×" if local else "—"
        lines.append(f"| {name} | {len(group)} | {statistics.median(wall):.1f} ({min(wall):.1f}–{max(wall):.1f}) | "
                     f"{statistics.median(r['run_s'] for r in group):.1f} | "
                     f"{statistics.median(r['overhead_per_job_s'] for r in group):.2f} | "
                     f"{statistics.median(r['gap_s'] for r in group):.2f} | {vs} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--launchers", default="local,ray,slurm")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    names = args.launchers.split(",")
    print(f"host: {os.cpu_count()} CPUs, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="launchers-") as tmp:
        work = Path(tmp)
        snapshot = work / "snapshot"
        make_sandbox(snapshot)
        with postgres_database(default_cache_dir() / "mlflow-backend") as cluster, \
                mlflow_server(postgres_uri(cluster), work / "server", artifacts=work / "artifacts") as url, \
                launchers(names) as found:
            for round_ in range(args.rounds):
                for name in names:
                    run_dir = work / f"{name}-{round_}"
                    run_dir.mkdir()
                    rows.append({"round": round_, **sweep(name, *found[name], run_dir, url, snapshot)})
                    print(rows[-1], flush=True)
    print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    write_outputs(table(rows), rows, args.json, args.markdown)


if __name__ == "__main__":
    main()
