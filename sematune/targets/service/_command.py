"""A command that prints the service's metrics (e.g. ``varnishstat -j``, ``nginx -s status`` via curl),
run at every reading and parsed with the ``command`` target's extractors (regex or JSON path)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any, Literal, Mapping, Optional, Sequence

from sematune.errors import TargetError
from sematune.targets._process import run_command
from sematune.targets.command import MetricRule
from sematune.targets.service import _window_math as wm
from sematune.targets.service._source import MetricSource, Reading


class CommandMetric(MetricRule):
    """A :class:`MetricRule` plus what the number is: a ``counter`` (cumulative) or a ``gauge``."""

    type: Literal["counter", "gauge"] = "gauge"
    stat: Optional[Literal["rate", "increase", "mean", "max", "min", "last", "first"]] = None

    def window_value(self, readings: Sequence[Optional[float]], seconds: float) -> Optional[float]:
        if self.type == "counter":
            stat = self.stat or "rate"
            if stat not in ("rate", "increase"):
                raise TargetError(f"a counter's stat is rate or increase, not {stat}")
            grown = wm.increase(readings)
            return None if grown is None else (grown / seconds if stat == "rate" else grown)
        stat = self.stat or "mean"
        if stat not in wm.GAUGE_STATS:
            raise TargetError(f"a gauge's stat is one of {wm.GAUGE_STATS}, not {stat}")
        return wm.gauge(readings, stat)


class CommandSource(MetricSource):
    """Runs ``argv`` (a list, never a shell; ``{python}`` is this interpreter) at every reading."""

    def __init__(self, *, argv: Sequence[str], metrics: Mapping[str, CommandMetric], timeout_s: float = 10.0,
                 sample_interval_s: float = 1.0) -> None:
        if not argv or isinstance(argv, str):
            raise ValueError("argv must be a non-empty list like ['prog', '--flag'] (no shell strings)")
        bad = [n for n, r in metrics.items() if r.source not in ("stdout", "stderr")]
        if bad:
            raise ValueError(f"metrics {bad}: a service command's source is stdout or stderr")
        self.argv = [str(a).replace("{python}", sys.executable) for a in argv]
        self.metrics = dict(metrics)
        self.timeout_s = timeout_s
        self.sample_interval_s = sample_interval_s
        self._dir = Path(tempfile.mkdtemp(prefix="sematune-service-cmd-"))

    def read(self) -> Reading:
        out, err = self._dir / "stdout.txt", self._dir / "stderr.txt"
        done = run_command(self.argv, timeout_s=self.timeout_s, stdout=out, stderr=err)
        if not done.ok:
            raise TargetError(f"the metrics command failed: {done.describe_failure()}")
        texts = {"stdout": out.read_text(encoding="utf-8", errors="replace"),
                 "stderr": err.read_text(encoding="utf-8", errors="replace")}
        reading: Reading = {}
        for name, rule in self.metrics.items():
            value = rule.extract(texts[rule.source])
            if value is None and rule.required:
                raise TargetError(f"required metric {name!r} has no match in the metrics command's {rule.source}")
            if value is not None:
                reading[name] = value
        return reading

    def compute(self, readings: list[Reading], seconds: float) -> dict[str, Optional[float]]:
        return {name: rule.window_value([r.get(name) for r in readings], seconds)
                for name, rule in self.metrics.items()}

    def describe(self) -> dict[str, Any]:
        return {"source": "command", "command": Path(self.argv[0]).name}

    def close(self) -> None:
        import shutil

        shutil.rmtree(self._dir, ignore_errors=True)
