"""MLflow metric keys of a window, one section per kind (MLflow groups charts by the part before ``/``).

The keys are a stable interface (docs/tracking.md lists them):

* top level: ``objective``, ``reward``, ``phase`` (``PHASE_CODES``);
* ``knob/<name>``: the value the kernel holds (a categorical knob as the index of its choice);
* ``target/<name>``: what the target measured (``target/throughput``, ``target/latency_p95``, ``target/tpmC``);
* ``host/<name>``: the engine's probe metrics (CPU by mode, PSI…) — not ``system/``, which MLflow's
  own system-metrics monitor writes;
* ``time/<step>``: seconds spent per step of the window (``time/measure_s``, ``time/tuner_s``…);
* ``window/<fact>``: ``ok``, ``feasible``, ``attempts``, ``rejected``, ``clipped``, ``write_errors``,
  ``constraint_violation``;
* ``tuner/confidence``, ``tokens/<input|output|thinking|cost_usd>`` and
  ``llm/<calls|failed_calls|latency_s>`` (LLM tuners: the model calls behind the window's proposal).

Stores written before these keys used dotted names (``knob.vm_swappiness``, ``system.cpu_user``,
``throughput``, ``window_ok``…); :func:`modern_key` maps one to its current name so readers accept both.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

TOP_LEVEL = ("objective", "reward", "phase")
KNOB = "knob/"
TARGET = "target/"
HOST = "host/"
TIME = "time/"

#: Old flat names (before the ``/`` sections) of the per-window facts.
_LEGACY_WINDOW = {
    "window_ok": "window/ok",
    "feasible": "window/feasible",
    "attempts": "window/attempts",
    "n_rejected": "window/rejected",
    "n_clipped": "window/clipped",
    "n_write_errors": "window/write_errors",
    "constraint_violation": "window/constraint_violation",
}
#: Old dotted prefixes and their sections.
_LEGACY_PREFIXES = {"knob.": KNOB, "system.": HOST, "time.": TIME, "tuner.": "tuner/", "tokens.": "tokens/"}


def knob_key(name: str) -> str:
    return KNOB + name


def target_key(name: str) -> str:
    """A target metric (``system.<x>`` from :meth:`BenchmarkMetrics.flat` goes to ``host/<x>``)."""
    if name.startswith("system."):
        return HOST + name[len("system."):]
    return TARGET + name


def modern_key(key: str) -> str:
    """The current name of a metric key, old (dotted, flat) or current (returned unchanged)."""
    if "/" in key or key in TOP_LEVEL:
        return key
    if key in _LEGACY_WINDOW:
        return _LEGACY_WINDOW[key]
    for old, new in _LEGACY_PREFIXES.items():
        if key.startswith(old):
            return new + key[len(old):]
    return TARGET + key  # a bare target metric: throughput, latency_p95, tpmC…


def modern_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """A run's ``{key: value}`` with every key under its current name (current keys win)."""
    out = {modern_key(k): v for k, v in metrics.items() if modern_key(k) != k}
    out.update({k: v for k, v in metrics.items() if modern_key(k) == k})
    return out


def find_key(keys: Iterable[str], wanted: str) -> Optional[str]:
    """The key among ``keys`` (a run's logged metric names) that holds ``wanted`` (a current name)."""
    keys = list(keys)
    if wanted in keys:
        return wanted
    return next((k for k in keys if modern_key(k) == wanted), None)
