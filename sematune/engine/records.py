"""What the engine records per window, and the JSONL history file that never loses a window."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, Field

from sematune.engine.validation import json_safe
from sematune.targets.base import BenchmarkMetrics
from sematune.tracking.redact import redact_text
from sematune.tuners.base import TokenUsage

Phase = Literal["baseline", "tuning", "confirm", "stable"]
Status = Literal["ok", "failed", "contaminated", "idle"]

#: Numeric codes for phases, logged as the ``phase`` metric.
PHASE_CODES: dict[str, int] = {"baseline": 0, "tuning": 1, "stable": 2, "confirm": 3}


class TunerInfo(BaseModel):
    """The tuner's side of a window: its proposal metadata and compute time."""

    confidence: Optional[float] = None
    justification: str = ""
    token_usage: Optional[TokenUsage] = None
    compute_s: float = 0.0


class WindowRecord(BaseModel):
    """One measured window: what was proposed, applied, measured and scored."""

    window: int
    phase: Phase
    #: In ``confirm`` and ``stable`` windows, the configuration measured: ``"defaults"``,
    #: ``"candidate-<k>"`` (confirm) or ``"frozen"`` (stable).
    arm: Optional[str] = None
    #: In ``confirm`` and ``stable`` windows, the round / block the window belongs to: each holds one
    #: default window, placed first and last in turn (counterbalanced, so a drift over the run does
    #: not favour either arm). ``None`` in histories written before blocks were recorded.
    block: Optional[int] = None
    status: Status = "ok"
    started_at: float = 0.0
    proposed: dict[str, Any] = Field(default_factory=dict)
    rejected: dict[str, str] = Field(default_factory=dict)
    clipped: dict[str, list[Any]] = Field(default_factory=dict)
    requested: dict[str, Any] = Field(default_factory=dict)
    applied: dict[str, Any] = Field(default_factory=dict)
    write_errors: dict[str, str] = Field(default_factory=dict)
    metrics: Optional[BenchmarkMetrics] = None
    objective: Optional[float] = None
    reward: Optional[float] = None
    feasible: bool = True
    constraint_value: Optional[float] = None
    constraint_violation: Optional[float] = None
    error: Optional[str] = None
    attempts: int = 1
    tuner: TunerInfo = Field(default_factory=TunerInfo)
    timings: dict[str, float] = Field(default_factory=dict)

    @property
    def scored(self) -> bool:
        return self.status == "ok" and self.reward is not None


class HistoryWriter:
    """Appends one JSON line per window and flushes it to disk at once."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")

    def append(self, record: WindowRecord) -> None:
        try:
            line = record.model_dump_json()
        except Exception:  # a value no serialiser knows: keep the window, with that value as text
            line = json.dumps(json_safe(record.model_dump()), allow_nan=False)
        self._fh.write(redact_text(line) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


def read_history(path: str | os.PathLike[str]) -> list[WindowRecord]:
    """Load a history JSONL file (skipping a torn last line after a crash)."""
    records = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                records.append(WindowRecord.model_validate(json.loads(line)))
            except (ValueError, json.JSONDecodeError):
                continue
    return records
