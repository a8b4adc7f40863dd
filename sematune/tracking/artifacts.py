"""Files written into the run directory and logged to MLflow at the end of a run."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any, Sequence

from sematune.engine.records import WindowRecord


def write_window_table(records: Sequence[WindowRecord], path: str | os.PathLike[str]) -> None:
    """One CSV row per window: phase, arm, status, objective, reward, knob values, metrics."""
    knob_names: list[str] = []
    metric_names: list[str] = []
    for r in records:
        knob_names += [k for k in r.applied if k not in knob_names]
        if r.metrics is not None:
            metric_names += [k for k in r.metrics.flat() if k not in metric_names]
    header = ["window", "phase", "arm", "status", "objective", "reward", "feasible", "error",
              *[f"knob.{k}" for k in knob_names], *metric_names]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for r in records:
            flat = r.metrics.flat() if r.metrics is not None else {}
            writer.writerow(
                [r.window, r.phase, r.arm or "", r.status, r.objective, r.reward, r.feasible, r.error or "",
                 *[r.applied.get(k, "") for k in knob_names], *[flat.get(k, "") for k in metric_names]]
            )


def write_json(data: Any, path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    path.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
    return path
