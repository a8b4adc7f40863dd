"""Relative gain of one arm over another with a bootstrap 95% CI (shared by gain_limit/gain_set)."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np


def gain(value: float, reference: float, goal: str) -> float:
    """Relative gain in the goal's direction (+0.05 = 5% better)."""
    rel = value / reference - 1.0
    return rel if goal == "maximize" else -rel


def gain_ci(
    treated: Sequence[float], control: Sequence[float], goal: str, *, paired: bool = False,
    replicates: int = 4000, confidence: float = 0.95, seed: int = 0,
) -> tuple[float, Optional[float], Optional[float]]:
    """(gain of mean(treated) over mean(control), CI low, CI high).

    ``paired``: the i-th values were measured next to each other (interleaved windows), so pairs
    are resampled together, which cancels drift common to both. Needs 2+ values per arm for a CI.
    """
    t, c = np.asarray(treated, dtype=float), np.asarray(control, dtype=float)
    point = gain(float(t.mean()), float(c.mean()), goal)
    if len(t) < 2 or len(c) < 2:
        return point, None, None
    rng = np.random.default_rng(seed)
    if paired:
        n = min(len(t), len(c))
        idx = rng.integers(0, n, size=(replicates, n))
        tm, cm = t[:n][idx].mean(axis=1), c[:n][idx].mean(axis=1)
    else:
        tm = t[rng.integers(0, len(t), size=(replicates, len(t)))].mean(axis=1)
        cm = c[rng.integers(0, len(c), size=(replicates, len(c)))].mean(axis=1)
    reps = tm / cm - 1.0 if goal == "maximize" else 1.0 - tm / cm
    alpha = (1.0 - confidence) / 2
    return point, float(np.quantile(reps, alpha)), float(np.quantile(reps, 1 - alpha))


def cv(values: Sequence[float]) -> Optional[float]:
    """Coefficient of variation (sample sd / mean), None with fewer than 2 values."""
    v = np.asarray(values, dtype=float)
    return float(v.std(ddof=1) / v.mean()) if len(v) > 1 and v.mean() else None
