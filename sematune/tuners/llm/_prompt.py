"""The prompts: a system prompt that stays fixed for the run and an update per request.

System prompt sections: role, task and objective (or the hidden-objective variant that shows
only ``system.*`` proxy metrics), constraint, noise note, the knobs (description, unit, range,
default), strategy, prior run, answer format. Update sections: bounded history (with the
engine's clip and rejection notes), current best, latest result, phase policy, top
configurations. Everything is plain text built from the run's own data.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Optional, Sequence

from sematune.osparams.space import ParameterSpace
from sematune.targets.base import BenchmarkMetrics
from sematune.tuners.base import Observation

HIDDEN = "HIDDEN"
#: Metrics per history line (the latest result shows more): short lines keep small models' prompts small.
HISTORY_METRICS = 4
#: Shown first when present, after the objective.
PREFERRED = ("latency_p99", "latency_p95", "latency_avg", "error_rate", "system.cpu_busy_pct",
             "system.context_switches_per_s", "system.psi_cpu_some_pct", "system.psi_io_some_pct")
SIGNALS = ("app", "system")

ROLES = {
    "single": "You propose the configuration for the next measurement window, one window at a time.",
    "fast": ("You are the fast member of a two-model team: answer every window with an immediate, intuitive "
             "next configuration. A slower model reviews the whole history in parallel; its answers are applied "
             "when they arrive and appear in the history tagged [slow]."),
    "slow": ("You are the careful member of a two-model team: study the accumulated results, find trends and "
             "propose a well-reasoned configuration. A fast model answers every window meanwhile; its windows are "
             "tagged [fast]. Your answer is applied at the first window boundary after it arrives."),
    "trim": ("Before a Bayesian optimiser takes over, you narrow the search space: propose the next configuration "
             "and, from what the windows show, narrower ranges for the knobs that matter and the knobs to drop."),
}

STRATEGY = (
    "STRATEGY: early windows explore widely (several knobs at a time, far from the defaults) to learn which knobs "
    "matter; later windows exploit — refine around the best configurations and revisit them to confirm, since one "
    "lucky window proves little. Never repeat an exact configuration unless confirming a best candidate. Prefer "
    "configurations that are safe for a production host."
)


@dataclass
class PromptContext:
    """What the prompts are built from (fixed for the run)."""

    space: ParameterSpace
    goal: str
    metric: Optional[str]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    constraint: Optional[Mapping[str, Any]] = None
    signals: str = "app"
    hide_objective: bool = False
    history_limit: int = 30
    #: Longest update in characters (the model's context): older history lines go first.
    max_update_chars: Optional[int] = None
    top_k: int = 3
    prior: Optional[str] = None


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            return "N/A"
        return f"{value:.6g}"
    return str(value)


def _config(params: Mapping[str, Any], defaults: Mapping[str, Any]) -> str:
    """Only what differs from the defaults (short prompts for small models)."""
    diff = {k: v for k, v in params.items() if defaults.get(k) != v}
    return "{" + ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(diff.items())) + "}" if diff else "{defaults}"


class PromptBuilder:
    """Builds the system prompt once and an update message per request."""

    def __init__(self, ctx: PromptContext) -> None:
        self.ctx = ctx
        self._systems: dict[str, str] = {}

    def learn_defaults(self, defaults: Optional[Mapping[str, Any]]) -> None:
        """The host defaults the prompts show, taken from the first request that carries them (the
        engine passes them with every request); the system prompts are rebuilt then, once."""
        if defaults and not self.ctx.defaults:
            self.ctx.defaults = dict(defaults)
            self._systems.clear()

    # -- system prompt ----------------------------------------------------------------------
    def system(self, role: str) -> str:
        """The system prompt for ``role``: fixed for the run, built once."""
        if role not in self._systems:
            self._systems[role] = self._build_system(role)
        return self._systems[role]

    def _build_system(self, role: str) -> str:
        c = self.ctx
        parts = ["You are a Linux kernel and operating-system performance tuning expert. " + ROLES[role]]
        direction = "MAXIMIZE" if c.goal == "maximize" else "MINIMIZE"
        if c.hide_objective:
            parts.append(f"TASK: {direction} a HIDDEN application objective. Its value is private; judge each "
                         "configuration by the system metrics (system.*) it produced, comparing their signatures "
                         "across windows.")
        else:
            parts.append(f"TASK: {direction} {c.metric or 'the objective'} of the workload by changing the OS "
                         f"parameters below.")
            parts.append("SIGNALS: " + ("application metrics of the workload; use the others for trends, "
                                        "anomalies and trade-offs, the objective stays the goal."
                                        if c.signals == "app" else
                                        "system metrics (system.*) of each window next to the objective: "
                                        "use them to explain why a configuration helped or hurt."))
        if c.constraint:
            op = "<=" if c.constraint.get("direction", "upper") == "upper" else ">="
            parts.append(f"CONSTRAINT: {c.constraint.get('metric')} {op} {_fmt(c.constraint.get('bound'))}. "
                         "Respecting it outranks the objective; a smaller violation is better than a larger one.")
        parts.append(self.knobs())
        parts.append(STRATEGY)
        if c.prior:
            parts.append("SUMMARY OF AN EARLIER TUNING RUN OF A SIMILAR WORKLOAD (a hint, not a rule):\n" + c.prior)
        parts.append("ANSWER: one JSON object with a value for every knob listed above and a short justification "
                     "(one or two sentences). Values outside a range are clipped; unknown knobs are rejected.")
        return "\n\n".join(parts)

    def knobs(self) -> str:
        lines = ["TUNABLE PARAMETERS (name: range; default; description):"]
        for param in self.ctx.space:
            domain = param.domain
            if domain.choices is not None:
                rng = "one of " + ", ".join(_fmt(c) for c in domain.choices)
            else:
                rng = f"{_fmt(domain.low)} to {_fmt(domain.high)}" + (" (log scale)" if domain.log else "")
            unit = f" {param.unit}" if getattr(param, "unit", None) else ""
            default = self.ctx.defaults.get(param.name)
            desc = " ".join(str(getattr(param, "description", "") or "").split())
            lines.append(f"- {param.name}: {rng}{unit}; default {_fmt(default) if default is not None else '?'}"
                         f"{'; ' + desc if desc else ''}")
        return "\n".join(lines)

    # -- update -----------------------------------------------------------------------------
    def update(
        self,
        history: Sequence[Observation],
        current: Mapping[str, Any],
        *,
        iteration: int,
        total: int,
        policy: str,
        tags: Optional[Mapping[int, str]] = None,
        extra_sections: Sequence[str] = (),
        metrics: Optional[BenchmarkMetrics] = None,
        best_reward: Optional[float] = None,
    ) -> str:
        """The update for one request. ``metrics`` and ``best_reward`` are the seed contract's arguments
        (the last window's metrics, the best reward so far); the history fills in the rest."""
        c = self.ctx
        tags = tags or {}
        # the history comes first and only grows, so a server's prompt cache keeps it between requests
        parts: list[str] = [f"UPDATE for window {iteration} of {total} tuning windows.", self.noise_note(history)]
        scored = [o for o in history if o.reward is not None]
        if scored and not c.hide_objective:
            best = max(scored, key=lambda o: (o.feasible, o.reward))
            if best_reward is not None:  # the engine's best (the same windows; it wins if they differ)
                best = next((o for o in scored if o.reward == best_reward), best)
            parts.append(f"CURRENT BEST: {c.metric}={_fmt(best.objective)} (window {best.window}) with "
                         f"{_config(best.parameters, c.defaults)}")
        if history:
            last = history[-1]
            if metrics is not None and metrics is not last.metrics:
                last = replace(last, metrics=metrics)
            parts.append(f"LATEST RESULT: window {last.window}: {_config(last.parameters, c.defaults)} -> "
                         f"{self._metrics(last)}")
            notes = self._notes(last)
            if notes:
                parts.append(notes)
        parts.append(f"CURRENT CONFIGURATION: {_config(current, c.defaults)}")
        if scored and not c.hide_objective and c.top_k:
            top = sorted(scored, key=lambda o: (o.feasible, o.reward), reverse=True)[:c.top_k]
            parts.append(f"TOP {len(top)} CONFIGURATIONS SO FAR:\n" + "\n".join(
                f"{i}. {c.metric}={_fmt(o.objective)} (window {o.window}): {_config(o.parameters, c.defaults)}"
                for i, o in enumerate(top, 1)))
        parts.extend(extra_sections)
        parts.append("PHASE POLICY: " + policy)
        budget = None if c.max_update_chars is None else c.max_update_chars - sum(len(p) + 2 for p in parts)
        return "\n\n".join([self._history(history, tags, budget), *parts])

    def _history(self, history: Sequence[Observation], tags: Mapping[int, str], budget: Optional[int]) -> str:
        """The history block: the first window (at the defaults: it anchors every comparison) and the
        newest ones, at most ``history_limit`` and, with a ``budget``, at most that many characters."""
        if not history:
            return "[History] none yet"
        first = self._line(history[0], tags.get(history[0].window))
        newest: list[str] = []
        used = len(first) + 80
        for o in reversed(history[1:]):
            line = self._line(o, tags.get(o.window))
            if len(newest) + 1 >= self.ctx.history_limit or (budget is not None and used + len(line) + 1 > budget):
                break
            newest.append(line)
            used += len(line) + 1
        shown = 1 + len(newest)
        header = "[History]" if shown == len(history) else \
            f"[History] (the first window and the last {len(newest)} of {len(history)}; older ones left out)"
        return "\n".join([header, first, *reversed(newest)])

    def noise_note(self, history: Sequence[Observation]) -> str:
        """The measured window-to-window spread of repeated default windows, or what is known of it."""
        cv = measured_noise(history)
        what = "differences between windows" if self.ctx.hide_objective else f"differences in {self.ctx.metric}"
        if cv is None:
            return (f"MEASUREMENTS ARE NOISY: only one window at the defaults so far, so the noise is not measured "
                    f"yet; treat {what} of a few percent as noise until a configuration repeats its result.")
        return (f"MEASUREMENTS ARE NOISY: repeated windows at the defaults vary by {cv:.1%} (coefficient of "
                f"variation); {what} smaller than about {2 * cv:.0%} are within the noise.")

    def _line(self, o: Observation, tag: Optional[str]) -> str:
        label = f" [{tag}]" if tag else ""
        phase = " (defaults)" if o.phase == "baseline" else ""
        metrics = self._metrics(o, HISTORY_METRICS)
        return f"* window {o.window}{label}{phase}: {metrics} with {_config(o.parameters, self.ctx.defaults)}"

    def _metrics(self, o: Observation, limit: int = 24) -> str:
        """The window's visible metrics: the objective, then the usual suspects, then the rest (at most ``limit``)."""
        c = self.ctx
        if o.reward is None and o.objective is None:
            return "FAILED (no measurement)"
        shown: dict[str, Any] = {}
        if not c.hide_objective and c.metric:
            shown[c.metric] = o.objective
        if o.metrics is not None:
            for name, value in sorted(o.metrics.flat().items()):
                system = name.startswith("system.")
                if (system and (c.signals == "system" or c.hide_objective)) or (
                        not system and c.signals == "app" and not c.hide_objective):
                    shown.setdefault(name, value)
        if c.hide_objective and c.metric:
            shown.pop(c.metric, None)
        first = [k for k in (c.metric, *PREFERRED) if k in shown]
        ordered = first + [k for k in shown if k not in first]
        text = ", ".join(f"{k}={_fmt(shown[k])}" for k in ordered[:limit])
        return (text or "no metrics") + ("" if o.feasible else " [violates the constraint]")

    @staticmethod
    def _notes(o: Observation) -> str:
        rejected = dict(o.extra.get("rejected") or {})
        clipped = dict(o.extra.get("clipped") or {})
        lines = []
        if clipped:
            lines.append("CLIPPED to the allowed range: " + "; ".join(
                f"{k}: {_fmt(v[0])} -> {_fmt(v[1])}" if isinstance(v, (list, tuple)) and len(v) == 2 else f"{k}: {v}"
                for k, v in clipped.items()))
        if rejected:
            lines.append("REJECTED (not applied): " + "; ".join(f"{k}: {v}" for k, v in rejected.items()))
        return "\n".join(lines)


def measured_noise(history: Sequence[Observation]) -> Optional[float]:
    """CV of the windows measured at the defaults (baseline windows), ``None`` with fewer than two."""
    values = [o.objective for o in history if o.phase == "baseline" and o.objective is not None]
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    return statistics.stdev(values) / abs(mean) if mean else None


def phase_policy(iteration: int, total: int) -> str:
    """What the model should do at this point of the tuning phase."""
    left = total - iteration
    if left <= 0:
        return ("LAST tuning window: propose your best candidate; a separate request chooses the configuration to "
                "freeze.")
    if iteration <= max(2, total // 3):
        return f"EXPLORE: {left} windows remain; try clearly different configurations to learn which knobs matter."
    return f"REFINE: {left} windows remain; refine around the best configurations, or confirm a promising one."


FREEZE_POLICY = ("FREEZE: tuning is over. Choose the ONE configuration to keep for the rest of the run. Do not "
                 "explore: prefer the best configuration that held up (repeat results beat one lucky window), or a "
                 "close refinement of it; the defaults are a valid answer if nothing beat them beyond the noise.")

GIST_SYSTEM = ("You are a Linux performance tuning expert writing notes for a future tuning run of a similar "
               "workload.")
GIST_USER = ("Summarise this tuning run in at most 8 short bullet points: which knobs mattered and in which "
             "direction, which ranges were harmful or inert, the best configuration and how sure the measurements "
             "are, and where the next run should start. Plain text, no JSON.")
