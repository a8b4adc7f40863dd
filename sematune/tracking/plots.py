"""Plots logged as artifacts (matplotlib, headless)."""

from __future__ import annotations

import os
from typing import Sequence

from sematune.engine.records import WindowRecord

_PHASE_COLOURS = {"baseline": "#7f7f7f", "tuning": "#1f77b4", "stable": "#2ca02c"}


def plot_objective_per_window(
    records: Sequence[WindowRecord], path: str | os.PathLike[str], metric: str, goal: str
) -> None:
    """Objective per window coloured by phase, failed windows marked, best-so-far line."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=110)
    for phase, colour in _PHASE_COLOURS.items():
        xs = [r.window for r in records if r.phase == phase and r.objective is not None]
        ys = [r.objective for r in records if r.phase == phase and r.objective is not None]
        if xs:
            ax.scatter(xs, ys, s=22, color=colour, label=phase, zorder=3)
    best, best_x, best_y = None, [], []
    for r in records:
        if r.status == "ok" and r.objective is not None:
            better = best is None or (r.objective > best if goal == "maximize" else r.objective < best)
            best = r.objective if better else best
        if best is not None:
            best_x.append(r.window)
            best_y.append(best)
    if best_x:
        ax.step(best_x, best_y, where="post", color="#d62728", lw=1.2, label="best so far")
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
