"""Replay: re-run a recorded run's proposals, in order, with the recorded delays and no model calls.

``trace`` is a run directory or an MLflow run id; its ``history.jsonl`` gives each tuning
window's proposal exactly as the tuner made it (before validation, so clipping and rejection
happen again the same way), its justification and the time the tuner took, which is slept
again (``delays``) so that an asynchronous tuner's timing is reproduced. The configuration the
recorded tuner offered for the stable phase comes from its ``summary.json``.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Mapping, Optional

from sematune.engine.records import WindowRecord, read_history
from sematune.errors import ConfigError
from sematune.osparams.base import Value
from sematune.targets.base import BenchmarkMetrics
from sematune.tracking.run_files import run_file
from sematune.tuners.base import Tuner, TunerResponse

log = logging.getLogger(__name__)
TUNER_PICK = "tuner's best_parameters()"


class ReplayTuner(Tuner):
    """The recorded proposals of run ``trace``, window by window."""

    def __init__(self, *, trace: Optional[str] = None, tracking_uri: Optional[str] = None, delays: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not trace:
            raise ConfigError("tuner.trace", "is required: a run directory or an MLflow run id to replay")
        try:
            records = read_history(run_file(str(trace), "history.jsonl", tracking_uri))
        except FileNotFoundError as exc:
            raise ConfigError("tuner.trace", str(exc)) from None
        self.trace = str(trace)
        self.delays = bool(delays)
        self.proposals: list[WindowRecord] = [r for r in records if r.phase == "tuning"]
        if not self.proposals:
            raise ConfigError("tuner.trace", f"{trace} has no tuning windows to replay")
        self.pick = self._recorded_pick(tracking_uri)

    def _recorded_pick(self, tracking_uri: Optional[str]) -> Optional[dict[str, Value]]:
        try:
            summary = json.loads(run_file(self.trace, "summary.json", tracking_uri).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        freeze = (summary.get("tuner") or {}).get("freeze") if isinstance(summary.get("tuner"), dict) else None
        if isinstance(freeze, dict) and isinstance(freeze.get("parameters"), dict):
            return dict(freeze["parameters"])
        for candidate in summary.get("confirmation") or []:
            if isinstance(candidate, dict) and candidate.get("source") == TUNER_PICK:
                return {k: v.get("chosen") for k, v in (candidate.get("diff") or {}).items()}
        return None

    def suggest_parameters(
        self,
        metrics: Optional[BenchmarkMetrics],
        current_params: Mapping[str, Value],
        iteration: int,
        best_reward: float = 0.0,
        **kwargs: Any,
    ) -> TunerResponse:
        if iteration > len(self.proposals):
            return TunerResponse(justification=f"replay: {self.trace} has only {len(self.proposals)} tuning windows; "
                                                "keeping the current configuration")
        record = self.proposals[iteration - 1]
        if self.delays and record.tuner.compute_s > 0:
            time.sleep(record.tuner.compute_s)
        return TunerResponse(parameters=dict(record.proposed), confidence=record.tuner.confidence,
                             justification=f"replay of window {record.window}: {record.tuner.justification}"[:1000])

    def best_parameters(self) -> Optional[dict[str, Value]]:
        return dict(self.pick) if self.pick is not None else None

    def describe(self) -> dict[str, Any]:
        return {"trace": self.trace, "windows": len(self.proposals), "delays": self.delays}
