"""``service`` target: a service that is already running, observed one window at a time.

SemaTune starts and stops nothing here but the knobs: each window it reads the service's own
metrics at the start, every ``sample_interval_s`` and at the end, and turns the readings into
rates, deltas and window aggregates. ``attach`` names the service's processes so that own vs
foreign CPU and the per-process probes follow the service.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from sematune.errors import ConfigError, TargetError
from sematune.targets.base import CORE_METRICS, BenchmarkMetrics, Target
from sematune.targets.service._attach import Attach
from sematune.targets.service._source import MetricSource, Reading
from sematune.validate import one_of, parsed, require

SOURCE_KINDS = ("prometheus", "command", "postgres", "redis")
RESULT = "service_metrics.json"
#: Prefix of every service metric that is not a core metric (``service/errors_per_s``…).
PREFIX = "service/"


def build_source(source: Mapping[str, Any], metrics: Mapping[str, Mapping[str, Any]],
                 sample_interval_s: float) -> MetricSource:
    """The metric source that ``target.source.kind`` names, with its settings checked."""
    settings = dict(source or {})
    kind = settings.pop("kind", None)
    one_of("target.source.kind", kind, SOURCE_KINDS)
    needs_metrics = kind in ("prometheus", "command")
    require("target.metrics", metrics or not needs_metrics,
            f"a {kind} source needs metrics: name → where its number is")
    require("target.metrics", needs_metrics or not metrics,
            f"the {kind} preset has fixed metrics; leave target.metrics empty")
    try:
        if needs_metrics:
            if kind == "prometheus":
                from sematune.targets.service._prometheus import PrometheusSource as source_cls
                from sematune.targets.service._prometheus import PromMetric as rule_cls
            else:
                from sematune.targets.service._command import CommandMetric as rule_cls  # type: ignore[assignment]
                from sematune.targets.service._command import CommandSource as source_cls  # type: ignore[assignment]
            rules = {str(name): parsed(f"target.metrics.{name}", rule_cls, rule) for name, rule in metrics.items()}
            return source_cls(metrics=rules, sample_interval_s=sample_interval_s, **settings)  # type: ignore[arg-type]
        if kind == "postgres":
            from sematune.targets.service._postgres import PostgresSource

            return PostgresSource(sample_interval_s=sample_interval_s, **settings)
        from sematune.targets.service._redis import RedisSource

        return RedisSource(sample_interval_s=sample_interval_s, **settings)
    except (TypeError, ValueError) as exc:
        raise ConfigError("target.source", str(exc).splitlines()[0]) from None


class ServiceTarget(Target):
    """Observes a running service through one metric source; never starts or stops it."""

    def __init__(
        self,
        *,
        source: Mapping[str, Any],
        metrics: Optional[Mapping[str, Mapping[str, Any]]] = None,
        attach: Optional[Mapping[str, Any]] = None,
        sample_interval_s: float = 1.0,
        results_dir: str | os.PathLike[str] | None = None,
        pin_to_cores: str | Sequence[int] | None = None,
        objective: Mapping[str, str] | None = None,
    ) -> None:
        require("target.pin_to_cores", not pin_to_cores,
                "a running service is not started by SemaTune, so it "
                "cannot be pinned; pin it where it is started (e.g. systemd CPUAffinity=)")
        super().__init__(results_dir=results_dir, objective=objective)
        require("target.sample_interval_s", sample_interval_s > 0, f"must be > 0, got {sample_interval_s}")
        self.source = build_source(source, metrics or {}, float(sample_interval_s))
        self.attach = parsed("target.attach", Attach, attach or {})

    # -- the contract -------------------------------------------------------------------------
    def pre_execute(self) -> bool:
        """Check that the service answers and (when attached) runs; nothing is started."""
        self.source.read()
        if not self.attach.empty:
            self.attach.resolve()
        return True

    def execute_window(self, window_number: int, duration: float) -> BenchmarkMetrics:
        out_dir = self._window_output_dir(window_number)
        self.source.start_window()
        readings: list[Reading] = [self.source.read()]
        started, wall = time.monotonic(), time.time()
        end = started + duration
        while (now := time.monotonic()) < end:
            time.sleep(min(self.source.sample_interval_s, end - now))
            readings.append(self.source.read())
        seconds = time.monotonic() - started
        if not self.attach.empty:
            self.attach.resolve()  # the service must still be there: SemaTune never restarts it
        values = self.source.compute(readings, seconds)
        (out_dir / RESULT).write_text(json.dumps({"started_at": wall, "seconds": seconds, "readings": len(readings),
                                                  "metrics": values}, indent=2), encoding="utf-8")
        return self.parse_results(out_dir)

    def parse_results(self, output_dir: str | os.PathLike[str]) -> BenchmarkMetrics:
        path = Path(output_dir) / RESULT
        try:
            values = json.loads(path.read_text(encoding="utf-8"))["metrics"]
        except (OSError, ValueError, KeyError) as exc:
            raise TargetError(f"no service metrics at {path}: {exc}") from None
        if all(v is None for v in values.values()):
            raise TargetError(f"none of the declared metrics ({', '.join(values)}) was found in the service's "
                              "metrics; check target.metrics against what the service exposes")
        core = {k: v for k, v in values.items() if k in CORE_METRICS}
        extra = {f"{PREFIX}{k}": v for k, v in values.items() if k not in CORE_METRICS and v is not None}
        return BenchmarkMetrics(**core, extra_metrics=extra)

    def processes(self) -> list[int]:
        if self.attach.empty:
            return []
        try:
            return self.attach.resolve()
        except TargetError:
            return []

    def cleanup(self) -> None:
        self.source.close()

    def describe(self) -> dict[str, Any]:
        return {**self.source.describe(), **self.attach.describe()}
