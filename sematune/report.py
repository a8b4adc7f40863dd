"""``python -m sematune.report <sweep dir | parent run id>``: (re)build a sweep's comparison report.

The same code runs at the end of every multirun (see :mod:`sematune.tracking.callbacks`): it
reads the sweep's runs from MLflow (or, without tracking, from the sweep dir), computes the
report (:mod:`sematune.tracking.comparison`), prints the table, writes ``report.json``,
``report.md``, ``report.html`` and the PNG plots into ``<sweep dir>/report/`` and logs them
under ``report/`` on the sweep's parent MLflow run.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from sematune.tracking.mlflow_tracker import mlflow_client, quiet_mlflow_logs
from sematune.tracking.comparison import build_report
from sematune.tracking.comparison_model import SweepReport
from sematune.tracking.comparison_plots import (
    plot_comparison_bars,
    plot_knob_trajectories,
    plot_sweep_objective,
    safe_name,
)
from sematune.tracking.comparison_render import print_table, sweep_description, to_html, to_markdown
from sematune.tracking.description import NOTE_TAG
from sematune.tracking.sweep_runs import SweepRuns, has_job_dirs, load_parent_run, load_sweep_dir

log = logging.getLogger("sematune.report")

REPORT_DIR = "report"
ARTIFACT_PATH = "report"
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


@dataclass
class ReportOptions:
    baseline_tuner: str = "fixed"
    threshold: float = 0.10
    n_boot: int = 2000
    confidence: float = 0.95
    seed: int = 0


def collect(
    source: str | os.PathLike[str],
    *,
    tracking_uri: Optional[str] = None,
    files_only: bool = False,
    client: Any = None,
) -> tuple[SweepRuns, Any]:
    """The sweep's runs and the MLflow client they came from (``None`` for files).

    ``source`` is a sweep dir or a parent run id. A sweep dir that knows its parent run is read
    from MLflow (the store that also holds jobs run elsewhere or skipped by ``resume``) unless
    ``files_only``; if MLflow cannot be read, the files are used.
    """
    path = Path(source)
    if path.is_dir():
        runs = load_sweep_dir(path)
        if files_only or runs.parent_run_id is None:
            return runs, None
        uri = tracking_uri or runs.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
        try:
            quiet_mlflow_logs()
            client = client or mlflow_client(uri)
            remote = load_parent_run(client, runs.parent_run_id)
        except Exception as exc:
            log.warning("reading MLflow parent run %s at %s failed (%s); using the files in %s",
                        runs.parent_run_id, uri, exc, path)
            return runs, None
        remote.sweep_dir = str(path.resolve())
        return remote, client
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    quiet_mlflow_logs()
    client = client or mlflow_client(uri)
    return load_parent_run(client, str(source)), client


def write_report(runs: SweepRuns, out_dir: str | os.PathLike[str], options: ReportOptions | None = None,
                 title: Optional[str] = None) -> tuple[SweepReport, list[Path], list[tuple[str, str]]]:
    """Compute the report and write its JSON, Markdown, HTML and PNG files into ``out_dir``."""
    opts = options or ReportOptions()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = build_report(
        runs.jobs, baseline_tuner=opts.baseline_tuner, threshold=opts.threshold, n_boot=opts.n_boot,
        confidence=opts.confidence, seed=opts.seed, source=runs.source, parent_run_id=runs.parent_run_id,
        title=title or (f"SemaTune sweep {Path(runs.sweep_dir).name}" if runs.sweep_dir else "SemaTune sweep report"),
    )
    images: list[tuple[str, str]] = []
    plots = [("Improvement over the baseline", "comparison_bars.png", plot_comparison_bars),
             ("Objective per window", "objective_per_window.png", plot_sweep_objective)]
    for title_, name, draw in plots:
        try:
            if draw(report, out / name):
                images.append((title_, name))
        except Exception as exc:  # a plot must never cost the report
            log.warning("plot %s failed: %s", name, exc)
    for best in report.best:
        name = f"knobs_best_{safe_name(best.target)}.png"
        try:
            if plot_knob_trajectories(best, out / name):
                images.append((f"Knob trajectories of the best {best.target} run ({best.arm})", name))
        except Exception as exc:
            log.warning("plot %s failed: %s", name, exc)
    (out / "report.json").write_text(report.model_dump_json(indent=1), encoding="utf-8")
    (out / "report.md").write_text(to_markdown(report, images), encoding="utf-8")
    (out / "report.html").write_text(to_html(report, images, out), encoding="utf-8")
    files = [out / n for n in ("report.html", "report.md", "report.json")] + [out / n for _, n in images]
    return report, files, images


def log_report(client: Any, parent_run_id: str, files: Sequence[Path], report: SweepReport,
               images: Sequence[tuple[str, str]] = ()) -> None:
    """Log the files under ``report/`` on the parent run, tag its headline numbers and write its
    description (the comparison table and links to the plots)."""
    for path in files:
        client.log_artifact(parent_run_id, str(path), ARTIFACT_PATH)
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    tags = {"sematune.report": f"{ARTIFACT_PATH}/report.html",
            NOTE_TAG: sweep_description(report, images, experiment_id=experiment_id, run_id=parent_run_id,
                                        folder=ARTIFACT_PATH)}
    for geo in report.geomeans:
        if geo.relative is not None:
            tags[f"report.geomean.{safe_name(geo.arm)}"] = f"{geo.relative:.4f}"
    for key, value in tags.items():
        client.set_tag(parent_run_id, key, value)


def make_report(
    source: str | os.PathLike[str],
    *,
    tracking_uri: Optional[str] = None,
    files_only: bool = False,
    out_dir: Optional[str | os.PathLike[str]] = None,
    log_to_parent: bool = True,
    options: ReportOptions | None = None,
    client: Any = None,
    console: Any = None,
) -> tuple[SweepReport, SweepRuns, Path, bool]:
    """Collect, compute, write, print and (when read from MLflow) log the report.

    Returns the report, the runs it was built from, its folder and whether it was logged.
    """
    runs, client = collect(source, tracking_uri=tracking_uri, files_only=files_only, client=client)
    if out_dir is None:
        if runs.sweep_dir and Path(runs.sweep_dir).is_dir():
            out_dir = Path(runs.sweep_dir) / REPORT_DIR
        else:
            out_dir = Path.cwd() / f"sweep-report-{(runs.parent_run_id or 'files')[:8]}"
    report, files, images = write_report(runs, out_dir, options)
    print_table(report, console)
    logged = bool(log_to_parent and client is not None and runs.parent_run_id)
    if logged:
        log_report(client, runs.parent_run_id, files, report, images)
    return report, runs, Path(out_dir), logged


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sematune.report",
        description="Rebuild a sweep's comparison report from its sweep dir or its MLflow parent run.",
    )
    parser.add_argument("source", help="a sweep dir (multirun/<date>/<time>) or the sweep's MLflow parent run id")
    parser.add_argument("--tracking-uri", help="MLflow tracking URI (default: the one the sweep used, "
                        "$MLFLOW_TRACKING_URI, or sqlite:///mlflow.db)")
    parser.add_argument("--files", action="store_true", help="read the sweep dir's files only, not MLflow")
    parser.add_argument("--out", help="output folder (default: <sweep dir>/report)")
    parser.add_argument("--no-log", action="store_true", help="do not log the report to the parent run")
    parser.add_argument("--baseline", default="fixed", help="the baseline tuner (default: fixed)")
    parser.add_argument("--threshold", type=float, default=0.10, help="'worse' threshold for robustness (0.10)")
    parser.add_argument("--bootstrap", type=int, default=2000, help="bootstrap replicates (2000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (0)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    options = ReportOptions(baseline_tuner=args.baseline, threshold=args.threshold, n_boot=args.bootstrap,
                            seed=args.seed)
    path = Path(args.source)
    if not path.is_dir() and (os.sep in args.source or args.source.startswith(".")):
        print(f"error: no sweep directory {args.source}", file=sys.stderr)
        return 2
    if path.is_dir() and not has_job_dirs(path) and not (path / "mlflow_parent_run_id").exists():
        print(f"error: {args.source} holds no sweep jobs (no */.hydra/overrides.yaml)", file=sys.stderr)
        return 2
    try:
        report, runs, out, logged = make_report(args.source, tracking_uri=args.tracking_uri, files_only=args.files,
                                        out_dir=args.out, log_to_parent=not args.no_log, options=options)
    except Exception as exc:
        print(f"error: cannot build the report from {args.source}: {exc}", file=sys.stderr)
        return 2
    if not runs.jobs:
        print(f"error: no runs found in {runs.source}", file=sys.stderr)
        return 2
    print(f"report written to {out / 'report.html'}"
          + (f" and logged to MLflow run {runs.parent_run_id}" if logged else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
