"""A seeded synthetic workload with a known optimum, computed from the knob values really applied.

It stands in for a real workload in tests, demos and tuner benchmarks, so it behaves like
one to a tuner:

* most knobs are inert — only the five below matter, by name;
* ``cpu_haltpoll_guest_halt_poll_ns`` has a log-scale optimum (gain up to +45% near 120 µs);
* ``vm_thp_enabled`` gates ``vm_thp_defrag``: defrag only matters when THP is ``always``;
* ``vm_dirty_ratio`` has a mild quadratic optimum at 10;
* ``vm_min_free_kbytes`` is a cliff: above 512 MiB throughput collapses to 35%;
* noise is heteroscedastic (CV ≈ ``noise_cv``, larger at high halt-polling) with optional
  linear drift per window.

``throughput = base × Π term(knob)`` with a term of 1 for every knob not in the run's space
(so each term is evaluated at the knob's value or is neutral). :meth:`expected` is the
noise-free value, :meth:`optimum` the best noise-free value over the run's domains, so regret
is exact.
"""

from __future__ import annotations

import math
import os
import time
from itertools import product
from typing import Any, Callable, Mapping, Optional

import numpy as np

from sematune.osparams.base import OsParam, Value
from sematune.osparams.space import ParameterSpace
from sematune.targets.base import BenchmarkMetrics, Target
from sematune.validate import require

HALT_POLL_OPT_NS = 120_000.0
DIRTY_RATIO_OPT = 10.0
MIN_FREE_CLIFF_KB = 524_288.0

_THP_ENABLED = {"always": 1.05, "madvise": 1.0, "never": 0.97}
_THP_DEFRAG_WHEN_ALWAYS = {"defer": 1.12, "defer+madvise": 1.08, "madvise": 1.0, "never": 1.02, "always": 0.85}


def _halt_poll(x: float) -> float:
    d = math.log10(max(x, 0.0) + 1000.0) - math.log10(HALT_POLL_OPT_NS + 1000.0)
    return 1.0 + 0.45 * math.exp(-(d * d) / (2 * 0.35 ** 2))


def _dirty_ratio(x: float) -> float:
    return 1.08 - 0.08 * ((float(x) - DIRTY_RATIO_OPT) / 70.0) ** 2


def _min_free(x: float) -> float:
    return 0.35 if float(x) > MIN_FREE_CLIFF_KB else 1.0


#: Separable one-knob terms and the point where each peaks (for the analytic optimum).
_TERMS: dict[str, tuple[Callable[[float], float], float]] = {
    "cpu_haltpoll_guest_halt_poll_ns": (_halt_poll, HALT_POLL_OPT_NS),
    "vm_dirty_ratio": (_dirty_ratio, DIRTY_RATIO_OPT),
    "vm_min_free_kbytes": (_min_free, 0.0),
}


def _thp(enabled: Optional[Value], defrag: Optional[Value]) -> float:
    factor = _THP_ENABLED.get(str(enabled), 1.0) if enabled is not None else 1.0
    if enabled is not None and str(enabled) == "always" and defrag is not None:
        factor *= _THP_DEFRAG_WHEN_ALWAYS.get(str(defrag), 1.0)
    return factor


class SyntheticTarget(Target):
    """The documented response surface above; ``throughput`` maximise by default."""

    default_objective = ("throughput", "maximize")

    def __init__(
        self,
        *,
        base_throughput: float = 1000.0,
        noise_cv: float = 0.10,
        drift_per_window: float = 0.0,
        window_time_scale: float = 1.0,
        clients: int = 8,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        checks = {
            "base_throughput": base_throughput > 0,
            "noise_cv": 0 <= noise_cv < 1,
            "window_time_scale": window_time_scale >= 0,
            "clients": clients >= 1,
        }
        for key, ok in checks.items():
            require(f"target.{key}", ok, f"invalid value {locals()[key]!r}")
        self.base_throughput = float(base_throughput)
        self.noise_cv = float(noise_cv)
        self.drift_per_window = float(drift_per_window)
        self.window_time_scale = float(window_time_scale)
        self.clients = int(clients)
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)
        self._applied: dict[str, Any] = {}
        self._last: Optional[BenchmarkMetrics] = None

    # -- the surface --------------------------------------------------------------------------
    def expected(self, config: Mapping[str, Any]) -> float:
        """Noise-free throughput of ``config`` (knobs it lacks are neutral)."""
        value = self.base_throughput
        for name, (term, _) in _TERMS.items():
            if name in config:
                value *= term(float(config[name]))
        return value * _thp(config.get("vm_thp_enabled"), config.get("vm_thp_defrag"))

    def optimum(self, space: Optional[ParameterSpace] = None) -> tuple[dict[str, Value], float]:
        """The best configuration within ``space``'s domains and its noise-free throughput."""
        space = space or self.space
        require("target", space is not None, "optimum() needs the run's parameter space")
        best: dict[str, Value] = {}
        for name, (term, peak) in _TERMS.items():
            if name in space:
                best[name] = max(self._candidates(space[name], peak), key=lambda v: term(float(v)))
        enabled = list(space["vm_thp_enabled"].domain.choices or ()) if "vm_thp_enabled" in space else [None]
        defrag = list(space["vm_thp_defrag"].domain.choices or ()) if "vm_thp_defrag" in space else [None]
        e, d = max(product(enabled, defrag), key=lambda pair: _thp(*pair))
        if e is not None:
            best["vm_thp_enabled"] = e
        if d is not None:
            best["vm_thp_defrag"] = d
        return best, self.expected(best)

    @staticmethod
    def _candidates(param: OsParam, peak: float) -> list[Value]:
        domain = param.domain
        if domain.choices is not None:
            return [c for c in domain.choices if isinstance(c, (int, float))] or [0]
        assert domain.low is not None and domain.high is not None
        return [domain.low, domain.high, domain.clip(domain.coerce(peak))]

    # -- the contract -------------------------------------------------------------------------
    def pre_execute(self) -> bool:
        return True

    def on_configuration_applied(self, applied: Mapping[str, Any]) -> None:
        self._applied = dict(applied)

    def execute_window(self, window_number: int, duration: float) -> BenchmarkMetrics:
        started = time.perf_counter()
        mean = self.expected(self._applied) * (1.0 + self.drift_per_window * window_number)
        spread = 0.6 + 0.8 * min(float(self._applied.get("cpu_haltpoll_guest_halt_poll_ns", 0.0)) / 400_000.0, 1.0)
        throughput = max(mean * (1.0 + self.rng.normal(0.0, self.noise_cv * spread)), mean * 0.05)
        latency = 1000.0 * self.clients / throughput
        out = self._window_output_dir(window_number) / "synthetic.json"
        out.write_text(
            BenchmarkMetrics(
                throughput=throughput,
                goodput=throughput,
                latency_avg=latency,
                latency_p95=latency * 1.8,
                extra_metrics={"latency_p99": latency * 2.5, "error_rate": 0.0, "expected_throughput": mean},
            ).model_dump_json(),
            encoding="utf-8",
        )
        remaining = duration * self.window_time_scale - (time.perf_counter() - started)
        if remaining > 0:
            time.sleep(remaining)
        return self.parse_results(out.parent)

    def parse_results(self, output_dir: str | os.PathLike[str]) -> BenchmarkMetrics:
        with open(os.path.join(output_dir, "synthetic.json"), encoding="utf-8") as fh:
            return BenchmarkMetrics.model_validate_json(fh.read())

    def cleanup(self) -> None:
        self._applied = {}

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"noise_cv": self.noise_cv, "drift_per_window": self.drift_per_window}
        if self.space is not None:
            _, best = self.optimum()
            info["optimum_throughput"] = round(best, 3)
        return info
