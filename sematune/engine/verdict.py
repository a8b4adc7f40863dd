"""Verdict statistics (numpy only): relative gain, its block-bootstrap CI, A/A noise, growing harm.

Windows come in *blocks*: each block holds the tuned windows and the default windows that were
measured next to each other in time (one confirmation round, or the frozen windows between two
interleaved default windows). Resampling whole blocks keeps that pairing, so drift common to
both arms cancels. The gain is the ratio of pooled means in the goal's direction, minus one:
``+0.05`` is 5% better than the defaults whether the goal is maximise or minimise.

With few blocks a plain percentile bootstrap is too narrow, so the CI is Hesterberg's *expanded
percentile* interval: the percentiles are taken at Φ(−√(n/(n−1))·t₍₁₋α/2, n−1₎) instead of α/2
(n = blocks), which widens it the way a t interval widens a z interval.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

#: ``(tuned objective values, default objective values)`` measured next to each other.
Block = tuple[Sequence[float], Sequence[float]]


@dataclass(frozen=True)
class GainEstimate:
    """Pooled means of both arms, the relative gain and its bootstrap CI (``None`` when undefined)."""

    tuned_mean: Optional[float]
    defaults_mean: Optional[float]
    gain: Optional[float]
    ci_low: Optional[float]
    ci_high: Optional[float]
    n_tuned: int
    n_defaults: int
    confidence: float
    blocks: int = 0

    @property
    def decisive(self) -> bool:
        """Enough blocks for the confidence: see :func:`min_blocks`."""
        return self.blocks >= min_blocks(self.confidence)

    @property
    def better(self) -> bool:
        """The tuned arm beats the defaults with the estimate's confidence (CI above 0, enough blocks)."""
        return self.decisive and self.ci_low is not None and self.ci_low > 0

    @property
    def worse(self) -> bool:
        """The defaults beat the tuned arm with the estimate's confidence (CI below 0, enough blocks)."""
        return self.decisive and self.ci_high is not None and self.ci_high < 0

    @property
    def significant(self) -> bool:
        return self.better or self.worse


def relative_gain(tuned: np.ndarray | float, defaults: np.ndarray | float, goal: str) -> np.ndarray | float:
    """``tuned/defaults − 1`` (maximise) or ``defaults/tuned − 1`` (minimise)."""
    return defaults / tuned - 1.0 if goal == "minimize" else tuned / defaults - 1.0


def min_blocks(confidence: float) -> int:
    """Fewest blocks that can show an effect at ``confidence``: with n blocks all on one side by
    chance (probability 2⁻ⁿ under no effect) every bootstrap replicate is too, so 2⁻ⁿ must stay
    below the one-sided tail (1 − confidence)/2 — 6 blocks for 95%."""
    return math.ceil(math.log2(2.0 / (1.0 - confidence)) - 1e-9)


def normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def normal_quantile(p: float) -> float:
    """Φ⁻¹(p) by bisection (|error| < 1e-9)."""
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if normal_cdf(mid) < p else (lo, mid)
    return (lo + hi) / 2


def t_quantile(p: float, df: int) -> float:
    """Student t quantile: exact for 1 and 2 degrees of freedom, a Cornish–Fisher series above (≤ 1%)."""
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    z = normal_quantile(p)
    terms = ((z ** 3 + z) / 4, (5 * z ** 5 + 16 * z ** 3 + 3 * z) / 96,
             (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / 384,
             (79 * z ** 9 + 776 * z ** 7 + 1482 * z ** 5 - 1920 * z ** 3 - 945 * z) / 92160)
    return z + sum(term / df ** (k + 1) for k, term in enumerate(terms))


def expanded_tail(confidence: float, n: int) -> float:
    """The lower percentile (as a probability) of the expanded percentile interval over ``n`` blocks."""
    alpha = 1.0 - confidence
    t = t_quantile(1.0 - alpha / 2.0, n - 1)
    return normal_cdf(-math.sqrt(n / (n - 1)) * t)


def seed_for(*parts: object) -> int:
    """A stable bootstrap seed from labels (a rebuilt report gives the same interval)."""
    return zlib.crc32("|".join(map(str, parts)).encode())


def block_gain(blocks: Sequence[Block], goal: str, confidence: float = 0.95, n_boot: int = 2000,
               seed: int = 0) -> GainEstimate:
    """Gain of the tuned arm over the defaults with an (expanded) percentile bootstrap CI over blocks.

    The CI needs at least two blocks and positive means; a replicate that drew no window of one
    arm is dropped (the CI is omitted when more than a tenth are).
    """
    t_sum = np.array([float(np.sum(t)) for t, _ in blocks], dtype=float)
    t_n = np.array([len(t) for t, _ in blocks], dtype=float)
    d_sum = np.array([float(np.sum(d)) for _, d in blocks], dtype=float)
    d_n = np.array([len(d) for _, d in blocks], dtype=float)
    n_tuned, n_defaults = int(t_n.sum()), int(d_n.sum())
    tuned_mean = float(t_sum.sum() / n_tuned) if n_tuned else None
    defaults_mean = float(d_sum.sum() / n_defaults) if n_defaults else None
    out = dict(tuned_mean=tuned_mean, defaults_mean=defaults_mean, gain=None, ci_low=None, ci_high=None,
               n_tuned=n_tuned, n_defaults=n_defaults, confidence=confidence,
               blocks=sum(1 for t, d in blocks if len(t) and len(d)))
    if tuned_mean is None or defaults_mean is None or tuned_mean <= 0 or defaults_mean <= 0:
        return GainEstimate(**out)  # type: ignore[arg-type]
    out["gain"] = float(relative_gain(tuned_mean, defaults_mean, goal))
    if len(blocks) < 2 or n_boot <= 0:
        return GainEstimate(**out)  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(blocks), size=(n_boot, len(blocks)))
    tn, dn = t_n[idx].sum(axis=1), d_n[idx].sum(axis=1)
    valid = (tn > 0) & (dn > 0)
    if valid.sum() < 0.9 * n_boot:
        return GainEstimate(**out)  # type: ignore[arg-type]
    tm = t_sum[idx].sum(axis=1)[valid] / tn[valid]
    dm = d_sum[idx].sum(axis=1)[valid] / dn[valid]
    replicates = relative_gain(tm, dm, goal)
    tail = expanded_tail(confidence, len(blocks)) * 100.0
    low, high = np.percentile(replicates, [tail, 100.0 - tail])
    out["ci_low"], out["ci_high"] = float(low), float(high)
    return GainEstimate(**out)  # type: ignore[arg-type]


def growing_harm(blocks: Sequence[Block], goal: str, confidence: float, looks: int, min_blocks: int,
                 n_boot: int = 2000, seed: int = 0) -> Optional[GainEstimate]:
    """The estimate over the recent blocks when the defaults are significantly ahead there, else ``None``.

    A sequential check, run after every interleaved default window: it looks at the most recent
    half of the blocks (at least ``min_blocks``, so harm that grows with time is not diluted by
    the good start) and splits ``1 − confidence`` over the planned ``looks`` (Bonferroni), so
    repeated looking does not inflate false alarms. Unlike a decision to freeze, it does not need
    :func:`min_blocks`: a false alarm only costs the gain; with few blocks it amounts to "every
    recent block shows the defaults ahead".
    """
    with_defaults = [b for b in blocks if len(b[1])]
    if len(with_defaults) < min_blocks:
        return None
    recent = blocks[-max(min_blocks, (len(blocks) + 1) // 2):]
    strict = 1.0 - (1.0 - confidence) / max(1, looks)
    estimate = block_gain(recent, goal, strict, n_boot, seed)
    return estimate if estimate.ci_high is not None and estimate.ci_high < 0 else None


def coefficient_of_variation(values: Sequence[float]) -> Optional[float]:
    """Sample standard deviation over the mean (``None`` for fewer than two values or a mean ≤ 0)."""
    if len(values) < 2:
        return None
    arr = np.asarray(values, dtype=float)
    mean = float(arr.mean())
    return float(arr.std(ddof=1) / mean) if mean > 0 else None
