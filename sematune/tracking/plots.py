"""Plots logged as artifacts (matplotlib, headless)."""

from __future__ import annotations

import os
from typing import Callable, Sequence

from sematune.engine.records import WindowRecord

#: (label, colour, which windows): stable windows split into the frozen arm and interleaved defaults.
_GROUPS: tuple[tuple[str, str, Callable[[WindowRecord], bool]], ...] = (
    ("baseline", "#7f7f7f", lambda r: r.phase == "baseline"),
    ("tuning", "#1f77b4", lambda r: r.phase == "tuning"),
    ("confirm", "#ff7f0e", lambda r: r.phase == "confirm"),
    ("stable (frozen)", "#2ca02c", lambda r: r.phase == "stable" and r.arm != "defaults"),
    ("stable (defaults)", "#9467bd", lambda r: r.phase == "stable" and r.arm == "defaults"),
)


def plot_objective_per_window(
    records: Sequence[WindowRecord], path: str | os.PathLike[str], metric: str, goal: str
) -> None:
    """Objective per window coloured by phase (and stable arm), failed windows marked, best tuning so far."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=110)
    for label, colour, member in _GROUPS:
        xs = [r.window for r in records if member(r) and r.objective is not None]
        ys = [r.objective for r in records if member(r) and r.objective is not None]
        if xs:
            ax.scatter(xs, ys, s=22, color=colour, label=label, zorder=3)
    best, best_x, best_y = None, [], []
    for r in records:
        if r.phase in ("baseline", "tuning") and r.status == "ok" and r.objective is not None:
            better = best is None or (r.objective > best if goal == "maximize" else r.objective < best)
            best = r.objective if better else best
        if best is not None:
            best_x.append(r.window)
            best_y.append(best)
    if best_x:
        ax.step(best_x, best_y, where="post", color="#d62728", lw=1.2, label="best tuning-phase window so far")
    failed = [r.window for r in records if r.status == "failed"]
    for x in failed:
        ax.axvline(x, color="#d62728", alpha=0.25, lw=3)
    ax.set_xlabel("window")
    ax.set_ylabel(f"{metric} ({goal})")
    ax.set_title("objective per window" + (f" ({len(failed)} failed)" if failed else ""))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
