"""The block a run ends with on the terminal: readable in five seconds, at most 80 columns wide."""

from __future__ import annotations

import textwrap
from typing import Any, Mapping, Optional

from sematune.tracking.description import fmt, frozen_diff, model_calls_line, restore_line, run_page, verdict_line

WIDTH = 80
MAX_DIFF_LINES = 12


def mlflow_link(tracking_uri: Optional[str], experiment_id: Optional[str], run_id: Optional[str]) -> list[str]:
    """Where the MLflow run is, and the command that opens it (each on a line of its own, unwrapped,
    so it can be copied)."""
    if not tracking_uri or not run_id:
        return []
    page = run_page(experiment_id, run_id)
    if tracking_uri.startswith(("http://", "https://")):
        return ["MLflow run:", f"  {tracking_uri.rstrip('/')}/{page}"]
    return [f"MLflow run {run_id}, to open it:",
            f"  mlflow ui --backend-store-uri {tracking_uri} --port 5000",
            f"  http://127.0.0.1:5000/{page}"]


def _wrap(line: str, indent: str = "  ") -> list[str]:
    """Lines of at most 80 columns; a word longer than that (a path) stays whole on its own line."""
    if len(line) <= WIDTH:
        return [line]
    return textwrap.wrap(line, WIDTH, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)


def closing_block(summary: Mapping[str, Any], *, run_dir: str, tracking_uri: Optional[str] = None,
                  experiment_id: Optional[str] = None, run_id: Optional[str] = None) -> str:
    """Verdict, ``knob: default → chosen``, restore result, outputs and MLflow run; lines ≤ 80 columns
    (but for a path, URL or command longer than that, kept whole to be copied)."""
    lines = ["=" * WIDTH, *_wrap(f"Verdict: {verdict_line(summary)}")]
    diff = frozen_diff(summary)
    if diff:
        lines.append("Frozen configuration (knob: default → chosen):")
        lines += [part for k, d, c in diff[:MAX_DIFF_LINES] for part in _wrap(f"  {k}: {d} → {c}", "    ")]
        if len(diff) > MAX_DIFF_LINES:
            lines.append(f"  … and {len(diff) - MAX_DIFF_LINES} more in summary.json")
    elif (summary.get("verdict") or {}).get("frozen") or summary.get("frozen_diff") is not None:
        lines.append("Frozen configuration: the host defaults (nothing changed)")
    if summary.get("best_tuning_objective") is not None:
        lines += _wrap(f"Best tuning-phase window: {fmt(summary['best_tuning_objective'])} (window "
                       f"{summary.get('best_tuning_window')}; one window, not the verdict)", "  ")
    calls = model_calls_line(summary)
    if calls:
        lines += _wrap(calls, "  ")
    lines += _wrap(restore_line(summary))
    lines += _wrap(f"Outputs: {run_dir}", "  ")
    lines += mlflow_link(tracking_uri, experiment_id, run_id)
    lines.append("=" * WIDTH)
    return "\n".join(lines)
