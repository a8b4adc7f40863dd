"""Window arithmetic on cumulative readings: counter increases (with resets) and PromQL's
``histogram_quantile`` over bucket increases."""

from __future__ import annotations

import math
import statistics
from typing import Mapping, Optional, Sequence

#: A series' readings in one window, oldest first; ``None`` where the series was missing.
Readings = Sequence[Optional[float]]

GAUGE_STATS = ("mean", "max", "min", "last", "first")


def increase(readings: Readings) -> Optional[float]:
    """How much a counter grew over the readings, like PromQL's ``increase`` without extrapolation.

    A drop between two readings is a counter reset: the later reading counts from zero (so it is
    the increase since the reset). Missing and NaN readings are skipped; fewer than two usable
    readings give ``None`` (no increase can be computed), never 0.
    """
    usable = [v for v in readings if v is not None and math.isfinite(v)]
    if len(usable) < 2:
        return None
    total = 0.0
    for before, after in zip(usable, usable[1:]):
        total += after - before if after >= before else after
    return total


def gauge(readings: Readings, stat: str) -> Optional[float]:
    """A gauge's window aggregate (``mean``, ``max``, ``min``, ``last``, ``first``) over usable readings."""
    usable = [v for v in readings if v is not None and math.isfinite(v)]
    if not usable:
        return None
    if stat == "mean":
        return statistics.fmean(usable)
    return {"max": max, "min": min, "last": lambda v: v[-1], "first": lambda v: v[0]}[stat](usable)


def parse_le(text: str) -> Optional[float]:
    """A bucket's upper bound (``+Inf`` included); None when it is not a number."""
    try:
        return float(text)
    except ValueError:
        return None


def histogram_quantile(q: float, buckets: Mapping[float, float]) -> Optional[float]:
    """The ``q`` quantile from cumulative bucket counts ``{upper_bound: count}``, as PromQL computes it.

    Linear interpolation inside the bucket the rank falls in; the lowest bucket starts at 0
    (unless its bound is ≤ 0); a rank in the +Inf bucket returns the highest finite bound.
    ``None`` when there is no +Inf bucket, fewer than two buckets, or no observations —
    PromQL's NaN. Counts that decrease with the bound (a torn scrape) are made monotonic
    first, as PromQL does.
    """
    if not 0.0 <= q <= 1.0 or math.isnan(q):
        return None
    bounds = sorted(b for b in buckets if not math.isnan(b))
    if len(bounds) < 2 or bounds[-1] != math.inf:
        return None
    counts, running = [], 0.0
    for bound in bounds:
        count = buckets[bound]
        running = max(running, count if math.isfinite(count) else running)
        counts.append(running)
    total = counts[-1]
    if total <= 0:
        return None
    rank = q * total
    index = next(i for i, c in enumerate(counts) if c >= rank)
    if index == len(bounds) - 1:
        return bounds[-2]
    if index == 0 and bounds[0] <= 0:
        return bounds[0]
    start = 0.0 if index == 0 else bounds[index - 1]
    below = 0.0 if index == 0 else counts[index - 1]
    in_bucket = counts[index] - below
    if in_bucket <= 0:
        return bounds[index]
    return start + (bounds[index] - start) * (rank - below) / in_bucket
