"""The window loop: baseline → tuning → confirm → stable, one bounded measurement at a time.

Per window: ask the tuner → validate → apply → read back what the kernel holds → settle
(not measured) → measure → score → record (history JSONL first) → track. The loop never
writes outside :class:`ParameterSpace` and never restores the host itself; the caller owns
the journal and restores in ``finally``.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Iterable, Mapping, Optional, Protocol, Sequence

from sematune.engine import guards
from sematune.engine.decision import Decision, build_verdict
from sematune.engine.loop_settings import TICK_NOISE_S, LoopSettings, auto_foreign_cpu_limit
from sematune.engine.phases import ConfirmAndStable
from sematune.engine.records import HistoryWriter, Phase, TunerInfo, WindowRecord
from sematune.engine.scoring import Constraint, Objective, score
from sematune.engine.validation import Validated, check_reported, validate_proposal
from sematune.errors import TargetError
from sematune.osparams.base import Value
from sematune.osparams.space import ParameterSpace
from sematune.targets.base import BenchmarkMetrics, Target
from sematune.tuners.base import Observation, Tuner, TunerResponse

log = logging.getLogger(__name__)


class WindowTracker(Protocol):
    def log_window(self, record: WindowRecord) -> None: ...


class WindowProbe(Protocol):
    """System probe sampled around each measurement (see ``sematune.targets.probes``)."""

    def start(self, pids: Sequence[int]) -> None: ...

    def stop(self) -> dict[str, float]: ...


class ProgressSink(Protocol):
    def update(self, record: WindowRecord, best: Optional[WindowRecord]) -> None: ...


class Engine(ConfirmAndStable):
    """Runs the loop for one target × tuner × knob set."""

    def __init__(
        self,
        *,
        space: ParameterSpace,
        target: Target,
        tuner: Tuner,
        objective: Objective,
        settings: LoopSettings,
        history: HistoryWriter,
        constraint: Optional[Constraint] = None,
        tracker: Optional[WindowTracker] = None,
        probes: Sequence[WindowProbe] = (),
        progress: Optional[ProgressSink] = None,
    ) -> None:
        self.space = space
        self.target = target
        self.tuner = tuner
        self.objective = objective
        self.constraint = constraint
        self.settings = settings
        self.history = history
        self.tracker = tracker
        self.probes = list(probes)
        self.progress = progress
        self.records: list[WindowRecord] = []
        self.defaults: dict[str, Value] = {}
        self.current: dict[str, Value] = {}
        self.frozen: dict[str, Value] = {}
        #: The confirm phase's choice (``None`` until the run reaches it).
        self.decision: Optional[Decision] = None
        self.tuner_pick: Optional[Validated] = None
        self._failures = 0
        self._window = 0
        #: Why ``loop.max_regression`` ended the exploration (None: it did not).
        self.guard_stop: Optional[str] = None
        self._cpus = len(os.sched_getaffinity(0)) or 1
        limit = settings.foreign_cpu_limit
        #: Contamination limit in force (``None``: off).
        self.foreign_cpu_limit: Optional[float] = auto_foreign_cpu_limit(self._cpus) if limit == "auto" else limit

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> list[WindowRecord]:
        s = self.settings
        self.defaults = self.space.read_all()
        self.current = dict(self.defaults)
        first = self._measure("baseline", Validated(dict(self.defaults)))
        if first.status != "idle":  # a window without traffic cannot tell (no quantile without observations)
            check_reported(first.metrics, self.objective, self.constraint)
        for _ in range(s.dry_run_windows - 1):
            self._measure("baseline", Validated(dict(self.defaults)))
        if s.dry_run_windows:
            return self.records
        for iteration in range(1, s.tuning_windows + 1):
            if s.baseline_every and iteration > 1 and (iteration - 1) % s.baseline_every == 0:
                self._measure("baseline", Validated(dict(self.defaults)))
            self._tuning_window(iteration)
            self.guard_stop = guards.regression_note(self.records, self.objective, s.max_regression)
            if self.guard_stop:
                log.warning("%s", self.guard_stop)
                self.current = self.space.apply(dict(self.defaults), self.current).applied
                return self.records
        if s.stable_windows:
            self.decision = self._confirm()
            self.frozen = dict(self.decision.config)
            log.info("stable phase: freezing %s (%s)", self.decision.frozen, self.decision.reason)
            self._stable()
        return self.records

    def verdict(self) -> dict[str, Any]:
        """The run's verdict (see :func:`sematune.engine.decision.build_verdict`)."""
        return build_verdict(self.records, self.objective.metric, self.objective.goal, self.settings.confidence,
                             self.decision, self.settings.bootstrap_samples, self.objective.metric)

    def best_tuning(self) -> Optional[WindowRecord]:
        """The best scored *tuning-phase* window (feasible windows first)."""
        return self._best(r for r in self.records if r.phase == "tuning")

    def _tuning_window(self, iteration: int) -> None:
        last = self.records[-1] if self.records else None
        best = self.best()
        started = time.perf_counter()
        response = self.tuner.suggest_parameters(
            last.metrics if last else None,
            dict(self.current),
            iteration,
            best.reward if best and best.reward is not None else 0.0,
            history=list(self.tuner.history),
            defaults=dict(self.defaults),
        )
        if not isinstance(response, TunerResponse):
            raise TypeError(f"{type(self.tuner).__name__}.suggest_parameters returned {type(response).__name__}")
        ask_s = time.perf_counter() - started
        t0 = time.perf_counter()
        validated = validate_proposal(response.parameters, self.space, self.current)
        validate_s = time.perf_counter() - t0
        info = TunerInfo(
            confidence=response.confidence,
            justification=response.justification,
            token_usage=response.token_usage,
            compute_s=ask_s,
        )
        self._measure(
            "tuning",
            validated,
            proposed=validated.proposed,
            tuner=info,
            timings={"ask_s": ask_s, "validate_s": validate_s},
        )

    def best(self) -> Optional[WindowRecord]:
        """The best scored baseline or tuning window so far (feasible windows first)."""
        return self._best(r for r in self.records if r.phase in ("baseline", "tuning"))

    @staticmethod
    def _best(records: Iterable[WindowRecord]) -> Optional[WindowRecord]:
        scored = [r for r in records if r.scored]
        if not scored:
            return None
        return max(scored, key=lambda r: (r.feasible, r.reward))

    # -- one window -------------------------------------------------------------------------
    def _measure(
        self,
        phase: Phase,
        validated: Validated,
        *,
        proposed: Optional[Mapping[str, Any]] = None,
        tuner: Optional[TunerInfo] = None,
        timings: Optional[dict[str, float]] = None,
        arm: Optional[str] = None,
        block: Optional[int] = None,
    ) -> WindowRecord:
        window = self._window
        self._window += 1
        timings = dict(timings or {})
        record = WindowRecord(
            window=window,
            phase=phase,
            arm=arm,
            block=block,
            started_at=time.time(),
            proposed=dict(proposed or {}),
            rejected=validated.rejected,
            clipped=validated.clipped,
            requested=dict(validated.values),
            tuner=tuner or TunerInfo(),
        )
        applied = self.space.apply(validated.values, self.current)
        timings["apply_s"] = applied.seconds
        self.current = applied.applied
        record.applied = dict(applied.applied)
        record.write_errors = applied.write_errors
        if applied.write_errors:
            log.warning("window %d: %s", window, applied.write_errors)
        self.target.on_configuration_applied(record.applied)
        if self.settings.settle_seconds:
            t0 = time.perf_counter()
            time.sleep(self.settings.settle_seconds)
            timings["settle_s"] = time.perf_counter() - t0
        self.target.update_workload(window)
        t0 = time.perf_counter()
        metrics, error, attempts = self._measure_with_retries(window)
        timings["measure_s"] = time.perf_counter() - t0
        record.attempts = attempts
        if metrics is None:
            record.status, record.error = "failed", error
        else:
            record.metrics = metrics
            result = score(metrics, self.objective, self.constraint)
            record.objective, record.reward = result.objective, result.reward
            record.feasible = result.feasible
            record.constraint_value, record.constraint_violation = result.constraint_value, result.constraint_violation
            if result.error and result.objective is None:
                record.status, record.error = "failed", result.error
            elif result.error:
                record.error = result.error
            elif error:
                record.status, record.error = ("idle" if error.startswith(guards.IDLE) else "contaminated"), error
                record.reward = None if record.status == "idle" else record.reward
        self._finish(record, timings)
        return record

    def _measure_with_retries(self, window: int) -> tuple[Optional[BenchmarkMetrics], Optional[str], int]:
        """Measure once, again if the window was contaminated by foreign load (bounded)."""
        limit = self.foreign_cpu_limit
        attempts = 0
        begin_attempt = getattr(self.target, "begin_attempt", None)
        while True:
            attempts += 1
            if begin_attempt is not None:
                begin_attempt(attempts)  # each attempt keeps its own windows/NNNN[.k] output
            try:
                metrics = self._measure_once(window)
            except TargetError as exc:
                return None, str(exc), attempts
            except Exception as exc:  # a target bug must not lose the run's history
                log.exception("window %d: target failed", window)
                return None, f"{type(exc).__name__}: {exc}", attempts
            foreign = metrics.system.get("foreign_cpu_s")
            # CPU time is tick-sampled (±0.02 s per CPU): that much is not evidence of foreign load
            share = (max(foreign - TICK_NOISE_S * self._cpus, 0.0) / (self.settings.window_seconds * self._cpus)
                     if foreign is not None else 0.0)
            note = guards.idle_note(metrics, self.settings.min_traffic)
            if note is None and (limit is None or share <= limit):
                return metrics, None, attempts
            note = note or f"other processes used {share:.0%} of the CPUs (limit {limit:.0%})"
            if attempts > self.settings.max_remeasure:
                return metrics, note + f" after {attempts} attempts", attempts
            log.warning("window %d %s; re-measuring", window, note if note.startswith(guards.IDLE) else f"contaminated: {note}")

    def _measure_once(self, window: int) -> BenchmarkMetrics:
        pids = self.target.processes() if self.probes else []
        started = []
        for probe in self.probes:
            try:
                probe.start(pids)
                started.append(probe)
            except Exception as exc:  # probes are best-effort
                log.debug("probe %s failed to start: %s", type(probe).__name__, exc)
        try:
            seconds = self.settings.window_seconds  # an int when whole: the seed's `duration: int`
            metrics = self.target.execute_window(window, int(seconds) if seconds.is_integer() else seconds)
        finally:
            system: dict[str, float] = {}
            for probe in started:
                try:
                    system.update(probe.stop())
                except Exception as exc:  # probes are best-effort
                    log.debug("probe %s failed: %s", type(probe).__name__, exc)
        if not isinstance(metrics, BenchmarkMetrics):
            raise TargetError(f"{type(self.target).__name__}.execute_window returned {type(metrics).__name__}")
        if system:
            metrics = metrics.model_copy(update={"system": {**system, **metrics.system}})
        return metrics

    def _finish(self, record: WindowRecord, timings: dict[str, float]) -> None:
        if record.status == "failed":
            self._failures += 1
            log.warning("window %d failed: %s", record.window, record.error)
        else:
            self._failures = 0
        record.timings = timings
        self.history.append(record)  # first: a kill between the two never leaves a window only in MLflow
        if self.tracker is not None:
            t0 = time.perf_counter()
            try:
                self.tracker.log_window(record)
            except Exception as exc:  # tracking must never cost a measurement
                log.error("tracking failed (history JSONL still written): %s", exc)
                self.tracker = None
            record.timings["track_s"] = time.perf_counter() - t0
        self.records.append(record)
        log.info(
            "window %d %-8s%s %s=%s reward=%s%s",
            record.window, record.phase, f" [{record.arm}]" if record.arm else "", self.objective.metric,
            f"{record.objective:.6g}" if record.objective is not None else "—",
            f"{record.reward:.6g}" if record.reward is not None else "—",
            f" [{record.status}: {record.error}]" if record.status != "ok" else "",
        )
        if record.phase in ("baseline", "tuning"):
            self.tuner.observe(
                Observation(
                    window=record.window,
                    phase=record.phase,
                    parameters=dict(record.applied),
                    reward=record.reward if record.status not in ("failed", "idle") else None,
                    objective=record.objective,
                    metrics=record.metrics,
                    feasible=record.feasible,
                    extra={"rejected": dict(record.rejected), "clipped": dict(record.clipped)},
                )
            )
        if self.progress is not None:
            self.progress.update(record, self.best())
        if self._failures >= self.settings.max_consecutive_failures:
            raise TargetError(
                f"{self._failures} windows in a row failed; last error: {record.error}"
            )
