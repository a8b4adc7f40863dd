"""A run's story in words: the verdict line, the frozen configuration as a diff, the restore result,
and the run's Markdown description (MLflow's ``mlflow.note.content``, shown on the run's overview).

Everything reads ``summary.json``'s dict (its ``verdict`` and ``frozen_diff``; older summaries
without them fall back to the stable mean against the baseline window).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

NOTE_TAG = "mlflow.note.content"
#: MLflow 3.17's UI picks its GenAI or model-training view from this URL parameter (else from the
#: browser's last choice, GenAI at first); every link SemaTune prints or writes carries it.
TRAINING_VIEW = "?workflowType=machine_learning"


def run_page(experiment_id: Optional[str], run_id: str, tab: str = "") -> str:
    """The UI route of a run (``tab``: ``artifacts/<path>``, ``model-metrics``), training view."""
    return f"#/experiments/{experiment_id}/runs/{run_id}" + (f"/{tab}" if tab else "") + TRAINING_VIEW
DASH = "—"


def fmt(value: Any) -> str:
    if value is None:
        return DASH
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def pct(gain: Optional[float]) -> str:
    return DASH if gain is None else f"{gain * 100:+.1f}%"


def verdict_line(summary: Mapping[str, Any]) -> str:
    """One sentence: which configuration the run froze and how it compares with the defaults."""
    metric = summary.get("objective_metric") or "objective"
    goal = summary.get("goal") or ""
    verdict = summary.get("verdict")
    if summary.get("status") not in (None, "FINISHED"):
        return f"run {summary.get('status')}: no verdict ({summary.get('failed_windows', 0)} failed windows)"
    if not verdict:
        base, stable = summary.get("baseline_objective"), summary.get("stable_mean_objective")
        return f"{metric} ({goal}): stable mean {fmt(stable)} vs baseline window {fmt(base)} (no verdict recorded)"
    conf = verdict.get("confidence") or 0.95
    ci = ""
    if verdict.get("ci_low") is not None and verdict.get("ci_high") is not None:
        ci = f", {conf:.0%} CI {pct(verdict['ci_low'])} … {pct(verdict['ci_high'])}"
    sig = "significant" if verdict.get("significant") else "not significant"
    counts = f"{verdict.get('n_stable', '?')} stable vs {verdict.get('n_defaults', '?')} default windows"
    head = "tuned configuration kept" if verdict.get("frozen") == "tuned" else "host defaults kept"
    if verdict.get("gain") is None:
        line = (f"{head}: no comparison with the defaults ({counts} usable, "
                f"{verdict.get('n_excluded', 0)} failed or contaminated windows excluded)")
        return line + (f" — {verdict['reason']}" if verdict.get("reason") else "")
    means = f"stable mean {fmt(verdict.get('stable_mean'))} vs interleaved defaults {fmt(verdict.get('defaults_mean'))}"
    line = (f"{head}: {verdict.get('metric', metric)} {pct(verdict.get('gain'))} vs defaults"
            f"{ci} ({sig}; {means}; {counts})")
    if verdict.get("fallback"):
        line += f"; fallback: {verdict['fallback']}"
    if verdict.get("reason"):
        line += f" — {verdict['reason']}"
    if verdict.get("noise_cv") is not None:
        line += f"; A/A noise CV {verdict['noise_cv']:.1%}"
    return line


def frozen_diff(summary: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """``(knob, default, chosen)`` for each knob the frozen configuration changed."""
    diff = summary.get("frozen_diff") or {}
    return [(k, fmt(v.get("default")), fmt(v.get("chosen"))) for k, v in diff.items()]


def restore_line(summary: Mapping[str, Any]) -> str:
    status = summary.get("restore", "n/a")
    files = summary.get("restore_files")
    if status == "PASS":
        return "Host restored" + (f": {files} files written back, bytes verified" if files else ", bytes verified")
    if status == "n/a":
        return "Host restore: nothing was journaled"
    return f"HOST RESTORE {status}: see restoration_report.json and run `python -m sematune.restore`"


def model_calls_line(summary: Mapping[str, Any]) -> Optional[str]:
    """An LLM tuner's model calls in one line (``None`` for other tuners)."""
    tuner = summary.get("tuner") if isinstance(summary.get("tuner"), Mapping) else {}
    total = (tuner.get("calls") or {}).get("total") if isinstance(tuner.get("calls"), Mapping) else None
    if not total or not total.get("calls"):
        return None
    calls = int(total["calls"])
    return (f"Model calls ({tuner.get('provider')} {tuner.get('model')}): {calls} ({int(total.get('failed_calls', 0))} "
            f"failed), tokens {int(total.get('input_tokens', 0))} in / {int(total.get('output_tokens', 0))} out / "
            f"{int(total.get('thinking_tokens', 0))} thinking, ${float(total.get('cost_usd', 0.0)):.4f}, "
            f"{float(total.get('latency_s', 0.0)) / calls:.2f} s per call")


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def run_description(summary: Mapping[str, Any], *, experiment_id: Optional[str] = None,
                    run_id: Optional[str] = None, plots: Sequence[tuple[str, str]] = ()) -> str:
    """The run's Markdown note: verdict, stable vs defaults, frozen diff, restore, links to its plots."""
    verdict = summary.get("verdict") or {}
    parts = ["### Verdict", "", f"**{verdict_line(summary)}**", ""]  # the line gives the reason too
    if verdict:
        ci = (f"{pct(verdict.get('ci_low'))} … {pct(verdict.get('ci_high'))}"
              if verdict.get("ci_low") is not None else DASH)
        parts += ["| | mean | windows |", "|---|---|---|",
                  f"| frozen configuration (stable phase) | {fmt(verdict.get('stable_mean'))} | {fmt(verdict.get('n_stable'))} |",
                  f"| host defaults (interleaved) | {fmt(verdict.get('defaults_mean'))} | {fmt(verdict.get('n_defaults'))} |",
                  f"| gain ({verdict.get('goal', summary.get('goal', ''))}) | {pct(verdict.get('gain'))} | "
                  f"{verdict.get('confidence', 0.95):.0%} CI {ci} |", ""]
        if verdict.get("noise_cv") is not None:
            parts += [f"A/A noise of the default windows: CV {verdict['noise_cv']:.2%}.", ""]
    diff = frozen_diff(summary)
    parts += ["### Frozen configuration", ""]
    if diff:
        parts += ["| knob | default | chosen |", "|---|---|---|",
                  *[f"| `{k}` | {_md_escape(d)} | {_md_escape(c)} |" for k, d, c in diff], ""]
    else:
        parts += ["Same as the host defaults.", ""]
    if summary.get("best_tuning_objective") is not None:
        parts += [f"Best tuning-phase window: {fmt(summary['best_tuning_objective'])} "
                  f"(window {summary.get('best_tuning_window')}; one window, not the verdict).", ""]
    calls = model_calls_line(summary)
    if calls:
        parts += ["### Model", "", calls + ". Prompts and replies: artifacts `tuner/llm/`.", ""]
        gist = (summary.get("tuner") or {}).get("gist")
        if gist:
            parts += ["Gist (lessons the model drew from this run):", "", *[f"> {line}" for line in str(gist).splitlines()], ""]
    parts += ["### Host", "", restore_line(summary), ""]
    if plots:
        parts += ["### Plots", ""]
        for name, title in plots:
            link = run_page(experiment_id, run_id, f"artifacts/{name}") if experiment_id and run_id else name
            parts.append(f"- [{title}]({link})")
        parts.append("")
    parts.append(f"Status {summary.get('status')}, {summary.get('windows', 0)} windows "
                 f"({summary.get('failed_windows', 0)} failed). Everything is in `summary.json`.")
    return "\n".join(parts)
