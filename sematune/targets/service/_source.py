"""What every metric source of the ``service`` target does: take readings, turn a window's readings
into metrics. The target decides when to read (window start, every ``sample_interval_s``, end)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Optional

#: One reading of everything the source's metrics need (source-specific keys → numbers).
Reading = dict[Any, float]


class MetricSource(ABC):
    """A running service's metrics, read without starting or stopping anything."""

    #: Seconds between readings inside a window (gauges are aggregated over them).
    sample_interval_s: float = 1.0

    def start_window(self) -> None:
        """Called once before a window's first reading."""

    @abstractmethod
    def read(self) -> Reading:
        """One reading now; a :class:`~sematune.errors.TargetError` when the service cannot be read."""

    @abstractmethod
    def compute(self, readings: list[Reading], seconds: float) -> dict[str, Optional[float]]:
        """The window's metrics from its readings (oldest first) taken over ``seconds``."""

    def describe(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        """Release connections (never the service itself)."""
