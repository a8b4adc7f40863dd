"""The sweep report's plots (matplotlib, headless), drawn from a :class:`SweepReport` alone."""

from __future__ import annotations

import math
import os
import re
from typing import Any, Optional, Sequence

from sematune.tracking.comparison_model import BestRun, SweepReport

_PHASE_SHADE = {"baseline": "#dddddd", "confirm": "#fdebd3", "stable": "#e3f2e3"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def safe_name(text: str) -> str:
    """A file-name-safe slug."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"


def _shade_phases(ax: Any, windows: Sequence[int], phases: Sequence[str]) -> None:
    """Grey behind baseline windows, orange behind the confirm phase, green behind the stable phase."""
    for w, phase in zip(windows, phases):
        colour = _PHASE_SHADE.get(phase)
        if colour:
            ax.axvspan(w - 0.5, w + 0.5, color=colour, alpha=0.6, lw=0, zorder=0)


def plot_comparison_bars(report: SweepReport, path: str | os.PathLike[str]) -> bool:
    """Improvement over the baseline per target × arm with 95% CI whiskers, then the geo-means."""
    arms = [g.arm for g in report.geomeans]
    groups = [t.target for t in report.targets] + ["geo-mean"]
    if not arms:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(groups) * max(1, len(arms)) ** 0.5 + 2), 4.8), dpi=110)
    width = 0.8 / len(arms)
    cmap = plt.get_cmap("tab10")
    for j, arm in enumerate(arms):
        xs, ys, lo, hi, missing = [], [], [], [], []
        for i, group in enumerate(groups):
            if group == "geo-mean":
                geo = next(g for g in report.geomeans if g.arm == arm)
                rel, low, high = geo.relative, geo.ci_low, geo.ci_high
            else:
                cell = report.cell(group, arm)
                rel, low, high = (cell.relative, cell.ci_low, cell.ci_high) if cell else (None, None, None)
            x = i - 0.4 + width * (j + 0.5)
            if rel is None:
                missing.append(x)
                continue
            y = (rel - 1.0) * 100
            xs.append(x)
            ys.append(y)
            lo.append(y - (low - 1.0) * 100 if low is not None else 0.0)
            hi.append((high - 1.0) * 100 - y if high is not None else 0.0)
        ax.bar(xs, ys, width * 0.9, color=cmap(j % 10), label=arm, yerr=[lo, hi], capsize=3, zorder=3)
        for x in missing:
            ax.text(x, 0, "n/a", ha="center", va="bottom", fontsize=7, color="#a00", rotation=90)
    ax.axhline(0, color="#333", lw=1)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=15 if len(groups) > 4 else 0)
    baseline = report.method.get("baseline_tuner", "fixed")
    ax.set_ylabel(f"stable-phase improvement vs {baseline} (%)")
    ax.set_title(f"stable phase vs {baseline} (whiskers: 95% bootstrap CI over seeds)", fontsize=10)
    ax.grid(axis="y", alpha=0.3, zorder=0)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def plot_sweep_objective(report: SweepReport, path: str | os.PathLike[str]) -> bool:
    """Per target: each arm's median objective per window over seeds, with the min–max band."""
    if not report.series:
        return False
    plt = _pyplot()
    targets = [t for t in report.targets if any(s.target == t.target for s in report.series)]
    fig, axes = plt.subplots(len(targets), 1, figsize=(9, 3.6 * len(targets)), dpi=110, squeeze=False)
    cmap = plt.get_cmap("tab10")
    arms = report.arms
    for ax, info in zip(axes[:, 0], targets):
        series = [s for s in report.series if s.target == info.target]
        longest = max(series, key=lambda s: len(s.windows))
        _shade_phases(ax, longest.windows, longest.phases)
        for s in series:
            colour = cmap(arms.index(s.arm) % 10)
            nan = lambda v: math.nan if v is None else v  # noqa: E731
            ax.plot(s.windows, [nan(v) for v in s.median], color=colour, lw=1.6, marker=".",
                    label=f"{s.arm} (n={s.runs})")
            ax.fill_between(s.windows, [nan(v) for v in s.low], [nan(v) for v in s.high], color=colour, alpha=0.18)
        if info.baseline is not None:
            ax.axhline(info.baseline, color="#555", ls="--", lw=1, label=f"{info.baseline_arm} stable mean")
        ax.set_title(f"{info.target}: {info.metric} ({info.goal}) per window — median over seeds, band = range; "
                     "grey: baseline, green: stable", fontsize=9)
        ax.set_xlabel("window")
        ax.set_ylabel(str(info.metric))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def _as_numbers(values: Sequence[Any]) -> tuple[list[float], Optional[list[str]]]:
    """Numeric values as they are; categorical ones as indices (with their labels)."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) or v is None for v in values):
        return [math.nan if v is None else float(v) for v in values], None
    labels = list(dict.fromkeys(str(v) for v in values if v is not None))
    return [math.nan if v is None else float(labels.index(str(v))) for v in values], labels


def plot_knob_trajectories(best: BestRun, path: str | os.PathLike[str]) -> bool:
    """The applied value of each knob per window in the best run of a target."""
    if not best.knobs:
        return False
    plt = _pyplot()
    names = list(best.knobs)
    cols = 2 if len(names) > 1 else 1
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 2.3 * rows + 0.6), dpi=110, squeeze=False)
    for ax, name in zip(axes.flat, names):
        ys, labels = _as_numbers(best.knobs[name])
        _shade_phases(ax, best.windows, best.phases)
        ax.step(best.windows, ys, where="mid", color="#1f77b4", lw=1.4)
        ax.plot(best.windows, ys, ".", color="#1f77b4")
        if labels is not None:
            ax.set_yticks(range(len(labels)))
            ax.set_yticklabels(labels, fontsize=7)
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    seed = "" if best.seed is None else f", seed {best.seed}"
    fig.suptitle(f"{best.target}: knob values per window of the best run ({best.arm}{seed}); "
                 "grey: baseline, green: stable", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True
