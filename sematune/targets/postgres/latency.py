"""Latency summaries (milliseconds) from per-transaction samples."""

from __future__ import annotations

from typing import Sequence

import numpy as np

PERCENTILES = (50, 95, 99)


def latency_stats(latencies_ms: np.ndarray | Sequence[float]) -> dict[str, float]:
    """``{"avg", "p50", "p95", "p99", "max"}`` of the samples; empty when there are none."""
    values = np.asarray(latencies_ms, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {}
    p50, p95, p99 = np.percentile(values, PERCENTILES)
    return {"avg": float(values.mean()), "p50": float(p50), "p95": float(p95), "p99": float(p99),
            "max": float(values.max())}
