"""A run's plots, logged as image artifacts (matplotlib, headless)."""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence

from sematune.engine.records import WindowRecord
from sematune.osparams.space import ParameterSpace
from sematune.tracking.mlflow_tracker import knob_metric

PHASE_COLOURS = {"baseline": "#7f7f7f", "tuning": "#1f77b4", "confirm": "#9467bd", "stable": "#2ca02c"}
#: Image artifacts of a run: (file name, title) in the order the run description links them.
RUN_PLOTS = (("objective_per_window.png", "Objective per window by phase"),
             ("knobs_per_window.png", "Knob values per window"),
             ("best_so_far.png", "Best so far (tuning phase)"))
MAX_KNOB_PANELS = 12


def _figure(rows: int = 1, height: float = 4.5) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt.subplots(rows, 1, figsize=(9, height), dpi=110, sharex=True, squeeze=False)


def _save(fig: Any, path: str | os.PathLike[str]) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _better(value: float, best: Optional[float], goal: str) -> bool:
    return best is None or (value > best if goal == "maximize" else value < best)


def _is_defaults(record: WindowRecord) -> bool:
    return getattr(record, "arm", None) == "defaults"


def plot_run_objective(records: Sequence[WindowRecord], path: str | os.PathLike[str], metric: str, goal: str) -> None:
    """Objective per window coloured by phase (default windows hollow), failed windows marked."""
    fig, axes = _figure()
    ax = axes[0][0]
    for phase, colour in PHASE_COLOURS.items():
        for defaults in (False, True):
            xs = [r.window for r in records if r.phase == phase and r.objective is not None
                  and _is_defaults(r) == defaults]
            ys = [r.objective for r in records if r.phase == phase and r.objective is not None
                  and _is_defaults(r) == defaults]
            if xs:
                ax.scatter(xs, ys, s=22, zorder=3, label=f"{phase} (defaults)" if defaults else phase,
                           color="none" if defaults else colour, edgecolors=colour)
    failed = [r.window for r in records if r.status == "failed"]
    for x in failed:
        ax.axvline(x, color="#d62728", alpha=0.25, lw=3)
    ax.set_xlabel("window")
    ax.set_ylabel(f"{metric} ({goal})")
    ax.set_title("objective per window" + (f" ({len(failed)} failed)" if failed else ""))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    _save(fig, path)


def plot_run_knobs(records: Sequence[WindowRecord], path: str | os.PathLike[str],
                   space: Optional[ParameterSpace] = None) -> bool:
    """The value of each knob that moved, per window (a categorical knob by its choice index)."""
    names = list(dict.fromkeys(k for r in records for k in r.applied))
    moved = [n for n in names if len({repr(r.applied.get(n)) for r in records}) > 1][:MAX_KNOB_PANELS]
    if not moved:
        return False
    fig, axes = _figure(len(moved), max(2.5, 1.3 * len(moved) + 1))
    for ax, name in zip((row[0] for row in axes), moved):
        xs = [r.window for r in records if name in r.applied]
        ys = [knob_metric(space, name, r.applied[name]) for r in records if name in r.applied]
        colours = [PHASE_COLOURS.get(r.phase, "#333") for r in records if name in r.applied]
        ax.step(xs, [float("nan") if y is None else y for y in ys], where="post", color="#999", lw=0.8)
        ax.scatter(xs, [float("nan") if y is None else y for y in ys], s=10, c=colours, zorder=3)
        choices = space[name].domain.choices if space is not None and name in space else None
        if choices:
            ax.set_yticks(range(len(choices)), [str(c) for c in choices], fontsize=7)
        ax.set_title(name, loc="left", fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1][0].set_xlabel("window (colour = phase)")
    fig.suptitle("knob values per window")
    _save(fig, path)
    return True


def plot_best_so_far(records: Sequence[WindowRecord], path: str | os.PathLike[str], metric: str,
                     goal: str) -> bool:
    """The best tuning-phase objective found so far, per tuning window (how fast a tuner learns)."""
    xs, ys, best = [], [], None
    for r in records:
        if r.phase != "tuning":
            continue
        if r.status == "ok" and r.objective is not None and _better(r.objective, best, goal):
            best = r.objective
        if best is not None:
            xs.append(r.window)
            ys.append(best)
    if not xs:
        return False
    fig, axes = _figure()
    ax = axes[0][0]
    ax.step(xs, ys, where="post", color="#d62728", lw=1.5, label="best so far")
    tuning = [(r.window, r.objective) for r in records if r.phase == "tuning" and r.objective is not None]
    ax.scatter([w for w, _ in tuning], [o for _, o in tuning], s=12, color=PHASE_COLOURS["tuning"], label="window")
    baseline = [r.objective for r in records if r.phase == "baseline" and r.objective is not None]
    if baseline:
        ax.axhline(baseline[0], color=PHASE_COLOURS["baseline"], ls="--", lw=1, label="baseline (defaults)")
    ax.set_xlabel("window")
    ax.set_ylabel(f"{metric} ({goal})")
    ax.set_title("best so far (tuning phase)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    _save(fig, path)
    return True
