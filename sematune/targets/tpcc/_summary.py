"""One window's TPC-C summary (``tpcc.json``) and the metrics derived from it.

Counting rules: ``throughput`` is committed transactions per second; ``goodput`` also counts
the spec's intentional New-Order rollbacks (they complete as the spec requires), but never
errors. ``tpmC`` is New-Order transactions completed per minute, rollbacks included (clause
5.4.2 counts every completed New-Order). Latencies are in milliseconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from sematune.errors import TargetError
from sematune.targets.base import BenchmarkMetrics
from sematune.targets.postgres.latency import latency_stats
from sematune.targets.tpcc._driver import COMMIT, ERROR, ROLLBACK, TX_TYPES

SUMMARY_FILE = "tpcc.json"


def summarize_records(records: Sequence[tuple[int, int, int, int, int]], duration_s: float) -> dict[str, Any]:
    """Summary of the psycopg driver's records ``(end_ns, type, latency_ns, outcome, retries)``."""
    table = np.asarray(records, dtype=np.int64).reshape(-1, 5)
    kinds, lat_ms, outcome, retries = table[:, 1], table[:, 2] / 1e6, table[:, 3], table[:, 4]
    done = outcome != ERROR
    types: dict[str, Any] = {}
    for k, name in enumerate(TX_TYPES):
        mine = kinds == k
        types[name] = {
            "commit": int(np.sum(mine & (outcome == COMMIT))),
            "rollback": int(np.sum(mine & (outcome == ROLLBACK))),
            "error": int(np.sum(mine & (outcome == ERROR))),
            "retries": int(retries[mine].sum()),
            "latency_ms": latency_stats(lat_ms[mine & done]),
        }
    return {"duration_s": float(duration_s), "types": types, "latency_ms": latency_stats(lat_ms[done])}


def write_summary(summary: Mapping[str, Any], output_dir: Path) -> Path:
    path = Path(output_dir) / SUMMARY_FILE
    path.write_text(json.dumps(summary, indent=1, sort_keys=True), encoding="utf-8")
    return path


def read_summary(output_dir: str | Path) -> dict[str, Any]:
    path = Path(output_dir) / SUMMARY_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TargetError(f"no TPC-C window summary in {path}; the window did not finish") from None
    except (OSError, ValueError) as exc:
        raise TargetError(f"cannot read the TPC-C window summary {path}: {exc}") from exc


def _opt(stats: Mapping[str, float], key: str) -> Optional[float]:
    value = stats.get(key)
    return float(value) if value is not None else None


def metrics_from_summary(summary: Mapping[str, Any]) -> BenchmarkMetrics:
    """``throughput``/``goodput``/latencies plus ``tpmC``, per-type latencies and rates."""
    duration = float(summary.get("duration_s") or 0.0)
    if duration <= 0:
        raise TargetError("TPC-C window summary has no positive duration_s")
    types: Mapping[str, Mapping[str, Any]] = summary.get("types", {})
    commits = sum(int(t.get("commit", 0)) for t in types.values())
    rollbacks = sum(int(t.get("rollback", 0)) for t in types.values())
    errors = sum(int(t.get("error", 0)) for t in types.values())
    retries = sum(int(t.get("retries", 0)) for t in types.values())
    attempted = commits + rollbacks + errors
    overall = summary.get("latency_ms", {})
    extra: dict[str, float] = {}
    no = types.get("new_order")
    if no is not None:
        completed_no = int(no.get("commit", 0)) + int(no.get("rollback", 0))
        extra["tpmC"] = 60.0 * completed_no / duration
        if completed_no:
            extra["rollback_rate"] = int(no.get("rollback", 0)) / completed_no
    for key in ("p50", "p99", "max"):
        value = _opt(overall, key)
        if value is not None:
            extra[f"latency_{key}"] = value
    if attempted:
        extra["error_rate"] = errors / attempted
        extra["retry_rate"] = retries / attempted
    for name, t in types.items():
        lat = t.get("latency_ms", {})
        for key in ("avg", "p95"):
            value = _opt(lat, key)
            if value is not None:
                extra[f"{name}_latency_{key}"] = value
        extra[f"{name}_tps"] = (int(t.get("commit", 0)) + int(t.get("rollback", 0))) / duration
    for key, value in (summary.get("server") or {}).items():  # background work during the window
        extra[f"server_{key}"] = float(value)
    return BenchmarkMetrics(
        throughput=commits / duration,
        goodput=(commits + rollbacks) / duration,
        latency_avg=_opt(overall, "avg"),
        latency_p95=_opt(overall, "p95"),
        extra_metrics=extra,
    )
