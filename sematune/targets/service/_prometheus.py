"""A Prometheus / OpenMetrics endpoint as a metric source, parsed with ``prometheus-client``.

Each declared metric selects series by name and label matchers and sums them (like PromQL's
``sum``): counters become ``rate`` (per second) or ``increase`` over the window, gauges a window
aggregate over the readings, histograms ``pNN`` (``histogram_quantile`` over the window's bucket
increases), ``mean`` (Δsum / Δcount) or ``rate`` (Δcount per second).
"""

from __future__ import annotations

import math
import re
import urllib.error
import urllib.request
from typing import Any, Literal, Mapping, Optional

from pydantic import BaseModel, ConfigDict, field_validator

from sematune.errors import TargetError
from sematune.targets.service import _window_math as wm
from sematune.targets.service._source import MetricSource, Reading

_QUANTILE = re.compile(r"p([0-9]{1,2}(?:\.[0-9]+)?)")
_ACCEPT = "text/plain;version=0.0.4;q=1.0, application/openmetrics-text;version=1.0.0;q=0.5"
TYPES_KEY = "__types__"


class PromMetric(BaseModel):
    """One declared metric: which series and what to make of them."""

    model_config = ConfigDict(extra="forbid")

    metric: str
    labels: dict[str, str] = {}
    labels_regex: dict[str, str] = {}
    type: Optional[Literal["counter", "gauge", "histogram"]] = None
    stat: Optional[str] = None
    scale: float = 1.0

    @field_validator("labels_regex")
    @classmethod
    def _regexes(cls, value: dict[str, str]) -> dict[str, str]:
        for key, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"labels_regex.{key}: bad regex {pattern!r}: {exc}") from None
        return value

    @field_validator("stat")
    @classmethod
    def _stat(cls, value: Optional[str]) -> Optional[str]:
        known = ("rate", "increase", *wm.GAUGE_STATS)
        if value is not None and value not in known and not _QUANTILE.fullmatch(value):
            raise ValueError(f"stat {value!r} is not one of {', '.join(known)} or pNN (e.g. p95, p99.9)")
        return value

    def matches(self, labels: frozenset[tuple[str, str]]) -> bool:
        have = dict(labels)
        return all(have.get(k) == v for k, v in self.labels.items()) and all(
            re.fullmatch(p, have.get(k, "")) for k, p in self.labels_regex.items())


def parse_scrape(text: str, content_type: str = "") -> Reading:
    """``{(sample name, labels): value}`` of a scrape, and ``TYPES_KEY`` → ``{family: type}``."""
    if "openmetrics" in content_type:
        from prometheus_client.openmetrics.parser import text_string_to_metric_families
    else:
        from prometheus_client.parser import text_string_to_metric_families
    reading: dict[Any, Any] = {}
    types: dict[str, str] = {}
    try:
        for family in text_string_to_metric_families(text):
            if family.type != "unknown":
                types[family.name] = family.type
            for sample in family.samples:
                reading[(sample.name, frozenset(sample.labels.items()))] = float(sample.value)
    except ValueError as exc:
        raise TargetError(f"the metrics endpoint returned text that is not Prometheus/OpenMetrics: {exc}") from None
    reading[TYPES_KEY] = types  # type: ignore[assignment]
    return reading


def _kind(rule: PromMetric, readings: list[Reading]) -> str:
    if rule.type:
        return rule.type
    if rule.metric.endswith("_bucket"):
        return "histogram"
    names = {key[0] for r in readings for key in r if key != TYPES_KEY}
    types: dict[str, str] = {}
    for r in readings:
        types.update(r.get(TYPES_KEY, {}))  # type: ignore[arg-type]
    declared = types.get(rule.metric) or types.get(rule.metric.removesuffix("_total"))
    if declared in ("counter", "gauge", "histogram"):
        return declared
    if f"{rule.metric}_bucket" in names:
        return "histogram"
    return "counter" if rule.metric.endswith("_total") or f"{rule.metric}_total" in names else "gauge"


def _series(rule: PromMetric, readings: list[Reading], names: tuple[str, ...]) -> dict[Any, list[Optional[float]]]:
    """Each matching series (by name and labels) → its value per reading (None where missing)."""
    keys = {k for r in readings for k in r
            if k != TYPES_KEY and k[0] in names and rule.matches(k[1])}
    return {k: [r.get(k) for r in readings] for k in keys}


def _sum_increase(series: Mapping[Any, list[Optional[float]]]) -> Optional[float]:
    parts = [v for v in (wm.increase(values) for values in series.values()) if v is not None]
    return sum(parts) if parts else None


def compute_metric(rule: PromMetric, readings: list[Reading], seconds: float) -> Optional[float]:
    """One declared metric over a window's readings (None when its series are missing)."""
    kind = _kind(rule, readings)
    base = rule.metric
    if kind == "counter":
        stat = rule.stat or "rate"
        if stat not in ("rate", "increase"):
            raise TargetError(f"metric {rule.metric}: a counter's stat is rate or increase, not {stat}")
        grown = _sum_increase(_series(rule, readings, (base, f"{base}_total")))
        if grown is None:
            return None
        value = grown / seconds if stat == "rate" else grown
    elif kind == "gauge":
        stat = rule.stat or "mean"
        if stat not in wm.GAUGE_STATS:
            raise TargetError(f"metric {rule.metric}: a gauge's stat is one of {wm.GAUGE_STATS}, not {stat}")
        series = _series(rule, readings, (base,))
        if not series:
            return None
        per_reading = [sum(v for v in vals if v is not None and math.isfinite(v)) if any(
            v is not None and math.isfinite(v) for v in vals) else None for vals in zip(*series.values())]
        value = wm.gauge(per_reading, stat)
    else:
        value = _histogram(rule, readings, seconds)
    return None if value is None else value * rule.scale


def _histogram(rule: PromMetric, readings: list[Reading], seconds: float) -> Optional[float]:
    base = rule.metric.removesuffix("_bucket")
    stat = rule.stat or "p95"
    if stat == "rate":
        count = _sum_increase(_series(rule, readings, (f"{base}_count",)))
        return None if count is None else count / seconds
    if stat == "mean":
        total = _sum_increase(_series(rule, readings, (f"{base}_sum",)))
        count = _sum_increase(_series(rule, readings, (f"{base}_count",)))
        return total / count if total is not None and count else None
    match = _QUANTILE.fullmatch(stat)
    if match is None:
        raise TargetError(f"metric {rule.metric}: a histogram's stat is pNN, mean or rate, not {stat}")
    by_le: dict[float, dict[Any, list[Optional[float]]]] = {}
    for key, values in _series(rule, readings, (f"{base}_bucket",)).items():
        labels = dict(key[1])
        bound = wm.parse_le(labels.get("le", ""))
        if bound is not None:
            by_le.setdefault(bound, {})[key] = values
    buckets = {le: grown for le, series in by_le.items() if (grown := _sum_increase(series)) is not None}
    return wm.histogram_quantile(float(match.group(1)) / 100.0, buckets)


class PrometheusSource(MetricSource):
    """Scrapes ``url`` at every reading."""

    def __init__(self, *, url: str, metrics: Mapping[str, PromMetric], timeout_s: float = 5.0,
                 sample_interval_s: float = 1.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url must be http:// or https://, got {url!r}")
        self.url = url
        self.metrics = dict(metrics)
        self.timeout_s = timeout_s
        self.sample_interval_s = sample_interval_s

    def read(self) -> Reading:
        request = urllib.request.Request(self.url, headers={"Accept": _ACCEPT})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                text = response.read().decode("utf-8", errors="replace")
                content_type = response.headers.get("Content-Type", "")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise TargetError(f"cannot scrape {self.url}: {getattr(exc, 'reason', exc)}") from None
        return parse_scrape(text, content_type)

    def compute(self, readings: list[Reading], seconds: float) -> dict[str, Optional[float]]:
        return {name: compute_metric(rule, readings, seconds) for name, rule in self.metrics.items()}

    def describe(self) -> dict[str, Any]:
        return {"source": "prometheus", "url": self.url}
