"""The target contract (the seed's ``BenchmarkInterface``) and the per-window metrics record."""

from __future__ import annotations

import math
import os
import shutil
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Mapping, Optional, Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sematune.errors import ConfigError, TargetError
from sematune.osparams.base import parse_cpu_list
from sematune.osparams.space import ParameterSpace
from sematune.validate import require

#: The metric names every target may report at top level.
CORE_METRICS = ("throughput", "goodput", "latency_avg", "latency_p95")

#: Metric name prefixes that are costs (lower is better); every other metric is a benefit.
COST_PREFIXES = ("latency", "error", "rollback", "foreign_cpu", "time", "duration", "runtime", "seconds")


def default_goal(metric: str) -> str:
    """The goal an objective on ``metric`` gets when none is given: the one place that decides it."""
    name = metric.rsplit(".", 1)[-1] if metric.startswith("system.") else metric.rsplit("/", 1)[-1]  # host/, service/
    return "minimize" if name.startswith(COST_PREFIXES) else "maximize"


def _finite_or_none(value: Any) -> Optional[float]:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


class BenchmarkMetrics(BaseModel):
    """What one window measured. A metric that is missing is ``None`` — never a silent 0.0.

    Latencies are in milliseconds. ``extra_metrics`` holds target-specific values
    (``latency_p99``, ``error_rate``, ``tpmC``…); ``system`` holds proxy metrics that the
    engine's probes add (CPU by mode, PSI, context switches…).
    """

    model_config = ConfigDict(extra="forbid")

    throughput: Optional[float] = None
    goodput: Optional[float] = None
    latency_avg: Optional[float] = None
    latency_p95: Optional[float] = None
    extra_metrics: dict[str, float] = Field(default_factory=dict)
    system: dict[str, float] = Field(default_factory=dict)

    @field_validator("throughput", "goodput", "latency_avg", "latency_p95", mode="before")
    @classmethod
    def _drop_non_finite(cls, value: Any) -> Optional[float]:
        return _finite_or_none(value)

    @field_validator("extra_metrics", "system", mode="before")
    @classmethod
    def _drop_non_finite_extra(cls, value: Any) -> dict[str, float]:
        out: dict[str, float] = {}
        for key, raw in dict(value or {}).items():
            if isinstance(raw, bool):
                raw = float(raw)
            number = _finite_or_none(raw) if isinstance(raw, (int, float, str)) else None
            if number is not None:
                out[str(key)] = number
        return out

    def get(self, name: str) -> Optional[float]:
        """A metric by name: core field, ``extra_metrics`` key, or ``system.<key>`` (alias ``host/<key>``)."""
        if name in CORE_METRICS:
            return getattr(self, name)
        if name.startswith("system."):
            return self.system.get(name[len("system."):])
        if name.startswith("host/"):  # the proxy-objective spelling
            return self.system.get(name[len("host/"):])
        return self.extra_metrics.get(name)

    def flat(self) -> dict[str, float]:
        """Every present metric as ``{name: value}`` (system metrics prefixed ``system.``)."""
        out = {k: getattr(self, k) for k in CORE_METRICS if getattr(self, k) is not None}
        out.update(self.extra_metrics)
        out.update({f"system.{k}": v for k, v in self.system.items()})
        return out


class Target(ABC):
    """A workload that is prepared once and measured one bounded window at a time.

    Subclasses implement :meth:`pre_execute`, :meth:`execute_window`, :meth:`parse_results`
    and :meth:`cleanup`; :meth:`update_workload` is optional. The engine sets
    :attr:`results_dir` (under the run's output dir) before :meth:`pre_execute`.
    """

    #: (metric, goal) this target is tuned for unless ``objective`` says otherwise.
    default_objective: ClassVar[tuple[str, str]] = ("throughput", "maximize")

    def __init__(
        self,
        *,
        results_dir: str | os.PathLike[str] | None = None,
        pin_to_cores: str | Sequence[int] | None = None,
        objective: Mapping[str, str] | None = None,
    ) -> None:
        self._results_dir = Path(results_dir) if results_dir else None
        self._attempt = 1
        #: The run's knob space; set by the engine before :meth:`pre_execute`.
        self.space: Optional[ParameterSpace] = None
        self.pin_to_cores = self._parse_cores(pin_to_cores)
        if objective:
            metric = objective.get("metric")
            goal = objective.get("goal") or (default_goal(str(metric)) if metric else None)
            require("target.objective", metric and goal in ("maximize", "minimize"),
                    f"needs metric and goal maximize|minimize, got {dict(objective)}")
            self.default_objective = (str(metric), str(goal))

    # -- plumbing the seed promises --------------------------------------------------------
    @property
    def results_dir(self) -> Path:
        if self._results_dir is None:
            raise TargetError("results_dir is not set; the engine sets it before pre_execute()")
        self._results_dir.mkdir(parents=True, exist_ok=True)
        return self._results_dir

    @results_dir.setter
    def results_dir(self, value: str | os.PathLike[str]) -> None:
        self._results_dir = Path(value)

    def begin_attempt(self, attempt: int) -> None:
        """Called by the engine before each measurement of a window (1, then 2… on re-measures)."""
        self._attempt = int(attempt)

    def _window_output_dir(self, window_number: int) -> Path:
        """``windows/NNNN`` for a window's first attempt, ``windows/NNNN.2``… for its re-measures."""
        suffix = f".{self._attempt}" if getattr(self, "_attempt", 1) > 1 else ""
        path = self.results_dir / "windows" / f"{window_number:04d}{suffix}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _wrap_with_taskset(self, cmd: Sequence[str]) -> list[str]:
        """Prefix ``cmd`` with ``taskset -c <cores>`` when ``pin_to_cores`` is set."""
        if not self.pin_to_cores:
            return list(cmd)
        taskset = shutil.which("taskset")
        if taskset is None:
            raise TargetError("pin_to_cores needs `taskset`: install the util-linux package")
        return [taskset, "-c", ",".join(map(str, self.pin_to_cores)), *cmd]

    def _pin_preexec(self) -> None:
        """``preexec_fn`` that pins a child process to ``pin_to_cores`` (for Python-launched servers)."""
        if self.pin_to_cores:
            os.sched_setaffinity(0, self.pin_to_cores)

    @staticmethod
    def _parse_cores(spec: str | int | Sequence[int] | None) -> list[int]:
        if spec is None or spec == "":
            return []
        try:
            cores = parse_cpu_list(spec if not isinstance(spec, int) else [spec])
        except ValueError:
            raise ConfigError("target.pin_to_cores", f"{spec!r} is not a CPU list like '0-1' or [0, 1]") from None
        available = os.sched_getaffinity(0)
        bad = [c for c in cores if c not in available]
        require("target.pin_to_cores", not bad, f"CPUs {bad} are not available (have {sorted(available)})")
        return cores

    # -- the contract -------------------------------------------------------------------------
    @abstractmethod
    def pre_execute(self) -> bool:
        """Prepare the target once (load data, start servers). Return False if it cannot run."""

    @abstractmethod
    def execute_window(self, window_number: int, duration: float) -> BenchmarkMetrics:
        """Run or observe one window of ``duration`` seconds and return its metrics."""

    @abstractmethod
    def parse_results(self, output_dir: str | os.PathLike[str]) -> BenchmarkMetrics:
        """Parse a window's output files into :class:`BenchmarkMetrics`."""

    @abstractmethod
    def cleanup(self) -> None:
        """Stop child processes and remove temporary runtime state. Must be idempotent."""

    def update_workload(self, iteration: int) -> None:
        """Optionally change the load shape before window ``iteration``."""

    # -- engine hooks (optional) --------------------------------------------------------------
    def on_configuration_applied(self, applied: Mapping[str, Any]) -> None:
        """Called with the knob values read back from the host before each window."""

    def processes(self) -> list[int]:
        """PIDs of the target's process tree (used to split own from foreign CPU)."""
        return []

    def describe(self) -> dict[str, Any]:
        """Static facts about the target for tracking (workload size, clients…)."""
        return {}


#: The seed's name for the target contract.
BenchmarkInterface = Target
