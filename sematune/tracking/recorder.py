"""Recording a run: its files in the run directory and its MLflow run (the session's ``RunRecording``).

The session calls :meth:`RunRecorder.prepare` before it takes the host lock, :meth:`open` in a
worker thread while the target prepares (MLflow's import and store set-up take seconds),
:meth:`log_window` per window (through the loop), and :meth:`close` once the host is restored.
"""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from sematune.components import Components
from sematune.engine.records import WindowRecord
from sematune.engine.session import RunOutcome
from sematune.tracking.artifacts import write_json, write_window_table
from sematune.tracking.description import NOTE_TAG, run_description
from sematune.tracking.mlflow_tracker import MlflowTracker
from sematune.tracking.plots import RUN_PLOTS, plot_best_so_far, plot_run_knobs, plot_run_objective
from sematune.tracking.run_summary import run_summary
from sematune.tracking.stale_runs import SESSION_TAG, close_open_run, note_open_run
from sematune.tuners._learning import LearningTuner

log = logging.getLogger(__name__)

ARTIFACTS = ("config_resolved.yaml", "knob_space.json", "history.jsonl", "windows.csv", *(n for n, _ in RUN_PLOTS),
             "restoration_report.json", "stale_restoration_report.json", "host_state_before.json",
             "host_state_after.json", "summary.json")


class RunRecorder:
    """Writes a run's files and, with a ``tracker_factory``, mirrors them into one MLflow run."""

    def __init__(
        self,
        components: Components,
        run_dir: str | Path,
        *,
        run_name: str,
        params: Mapping[str, Any],
        tags: Mapping[str, str],
        resolved_config: str,
        tracker_factory: Optional[Callable[[], MlflowTracker]] = None,
    ) -> None:
        self.c = components
        self.run_dir = Path(run_dir)
        self.run_name = run_name
        self.params = params
        self.tags = dict(tags)
        self.resolved_config = resolved_config
        self.tracker_factory = tracker_factory
        self.tracker: Optional[MlflowTracker] = None
        self.summary: dict[str, Any] = {}
        #: Why MLflow stopped recording this run (the store died or refused), else None.
        self.tracking_error: Optional[str] = None

    def prepare(self) -> None:
        """The run directory with the resolved config and the knob space (before any host write)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "config_resolved.yaml").write_text(self.resolved_config, encoding="utf-8")
        write_json(self.c.space.describe(), self.run_dir / "knob_space.json")

    def open(self) -> None:
        """Start the MLflow run (slow; the session overlaps it with the target's preparation)."""
        if self.tracker_factory is None:
            return
        tracker = self.tracker_factory()
        session = uuid.uuid4().hex  # the marker names the run even if this process dies inside start()
        note_open_run(self.c.state_dir, tracker.tracking_uri, session)
        tracker.start(self.run_name, self.params, {**self.tags, SESSION_TAG: session}, self.c.space)
        if tracker.run_id:
            note_open_run(self.c.state_dir, tracker.tracking_uri, session, tracker.run_id)
        self.tracker = tracker

    def describe_target(self, facts: Mapping[str, Any]) -> None:
        if self.tracker is not None and facts:
            self.tracker.set_tags({f"target.{k}": v for k, v in facts.items()})

    def log_window(self, record: WindowRecord) -> None:
        if self.tracker is not None:
            try:
                self.tracker.log_window(record)
            except Exception as exc:  # the loop logs it and stops calling; the summary must say so
                self.tracking_error = f"MLflow lost the run at window {record.window}: {exc}"
                raise

    def close(self, outcome: RunOutcome) -> None:
        """Write the window table, plots and summary; tag, describe and end the MLflow run."""
        records = outcome.engine.records if outcome.engine else []
        plots = self._plots(records)
        tuner_facts = self._tuner_facts(outcome.status == "FINISHED")
        self.summary = run_summary(outcome, self.c.objective)
        if tuner_facts:
            self.summary["tuner"] = tuner_facts
        self._write_summary()
        if self.tracker is None or self.tracker.run_id is None:
            return
        if self.tracking_error is not None:  # a dead store would only add minutes of retries; the next
            return  # start (or `sematune.restore --tracking-uri`) marks the MLflow run KILLED
        try:
            note = run_description(self.summary, experiment_id=self.tracker.experiment_run_id, run_id=self.tracker.run_id,
                                   plots=plots)
            scalars = {f"summary.{k}": v for k, v in self.summary.items() if not isinstance(v, (dict, list))}
            verdict = self.summary.get("verdict") or {}
            scalars.update({f"verdict.{k}": v for k, v in verdict.items() if not isinstance(v, (dict, list))})
            scalars["verdict.frozen_diff"] = json.dumps(self.summary.get("frozen_diff", {}), default=str)
            self.tracker.log_metrics({f"verdict/{k}": float(v) for k, v in verdict.items()
                                      if isinstance(v, (int, float))})
            scalars.update(tuner_tags(tuner_facts))
            self.tracker.set_tags({"status": outcome.status, NOTE_TAG: note, **scalars})
            for name in ARTIFACTS:
                self.tracker.log_artifact(self.run_dir / name)
            self.tracker.log_artifacts(self.run_dir / "tuner", "tuner")
            self.tracker.finish(outcome.status)
            close_open_run(self.c.state_dir)
        except Exception as exc:
            self.tracking_error = f"closing the MLflow run failed: {exc}"
            self._write_summary()

    def _tuner_facts(self, completed: bool) -> dict[str, Any]:
        """The tuner's end-of-run facts (an LLM tuner's token totals and gist); never fails the recording."""
        try:
            return dict(self.c.tuner.finish(completed) or {})
        except Exception as exc:
            log.warning("the tuner's final report failed: %s", exc)
            return {}

    def _write_summary(self) -> None:
        if self.tracking_error is not None:
            self.summary["tracking"] = self.tracking_error
            log.error("%s; the run's files (history.jsonl complete) are in %s", self.tracking_error, self.run_dir)
        write_json(self.summary, self.run_dir / "summary.json")

    def _plots(self, records: list[WindowRecord]) -> list[tuple[str, str]]:
        """Draw the run's plots; return ``(file name, title)`` of those drawn."""
        if not records:
            return []
        write_window_table(records, self.run_dir / "windows.csv")
        metric, goal = self.c.objective.metric, self.c.objective.goal
        draw = {
            "objective_per_window.png": lambda p: plot_run_objective(records, p, metric, goal) or True,
            "knobs_per_window.png": lambda p: plot_run_knobs(records, p, self.c.space),
            "best_so_far.png": lambda p: isinstance(self.c.tuner, LearningTuner)
            and plot_best_so_far(records, p, metric, goal),
        }
        drawn = []
        for name, title in RUN_PLOTS:
            try:
                if draw[name](self.run_dir / name):
                    drawn.append((name, title))
            except Exception as exc:  # a plot must never cost the run its record
                log.warning("plot %s failed: %s", name, exc)
        return drawn

    def mlflow_location(self) -> tuple[Optional[str], Optional[str], Optional[str]]:
        """``(tracking URI, experiment id, run id)`` of the MLflow run, or Nones without one."""
        if self.tracker is None or self.tracker.run_id is None:
            return None, None, None
        return self.tracker.tracking_uri, self.tracker.experiment_run_id, self.tracker.run_id



def tuner_tags(facts: Mapping[str, Any]) -> dict[str, str]:
    """MLflow tags from the tuner's facts: scalars as ``tuner.<key>``, call totals, the gist (shortened)."""
    tags = {f"tuner.{k}": str(v) for k, v in facts.items() if isinstance(v, (str, int, float, bool))}
    totals = (facts.get("calls") or {}).get("total") if isinstance(facts.get("calls"), dict) else None
    for key, value in (totals or {}).items():
        tags[f"tuner.calls.{key}"] = str(value)
    if isinstance(facts.get("gist"), str):
        tags["tuner.gist"] = facts["gist"][:4000]
    return tags
