"""``target=sysbench_oltp``: sysbench's OLTP Lua workloads against the embedded PostgreSQL.

A :class:`~sematune.targets.postgres.PostgresTarget` (cached template + fresh clone per run)
that drives each window with the sysbench family's command line and parser
(:class:`~sematune.targets.sysbench.SysbenchTarget`). The tables are created once by
``sysbench … prepare`` inside the template. ``throughput`` = transactions/s; sysbench's
``--histogram`` adds ``latency_p50``/``latency_p99`` next to the printed percentile.
Needs the Debian package ``sysbench`` (built with the pgsql driver).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Optional

import numpy as np

from sematune.targets._process import require_binary
from sematune.targets.base import BenchmarkMetrics
from sematune.targets.postgres import PostgresTarget
from sematune.targets.sysbench import OUTPUT, SysbenchTarget, parse_sysbench
from sematune.validate import integer, one_of

SCRIPTS = ("oltp_read_write", "oltp_read_only", "oltp_write_only", "oltp_point_select", "oltp_update_index",
           "oltp_update_non_index", "oltp_insert", "oltp_delete")
TEMPLATE_VERSION = 1
_HIST_HEADER = re.compile(r"^Latency histogram \(values are in milliseconds\)", re.M)
_HIST_ROW = re.compile(r"^\s+([0-9]+(?:\.[0-9]+)?)\s+\|\**\s+([0-9]+)\s*$", re.M)


def histogram_percentiles(text: str, percentiles: tuple[float, ...] = (50, 99)) -> dict[str, float]:
    """Percentiles (ms) from sysbench's ``--histogram`` block (bucket values are upper bounds)."""
    header = _HIST_HEADER.search(text)
    if not header:
        return {}
    body = text[header.end():]
    end = body.find("\n \n")
    rows = _HIST_ROW.findall(body if end < 0 else body[:end + 1])
    if not rows:
        return {}
    values = np.array([float(v) for v, _ in rows])
    counts = np.array([int(c) for _, c in rows])
    cumulative = np.cumsum(counts) / counts.sum()
    return {f"latency_p{p:g}": float(values[min(np.searchsorted(cumulative, p / 100.0), len(values) - 1)])
            for p in percentiles}


class SysbenchOltpTarget(PostgresTarget, SysbenchTarget):
    """sysbench ``script`` (default ``oltp_read_write``) on ``tables`` × ``table_size`` rows."""

    default_objective = ("throughput", "maximize")
    rate_key = "transactions_per_s"
    extra_keys = ("queries_per_s", "errors_per_s")

    def __init__(
        self,
        *,
        script: str = "oltp_read_write",
        tables: int = 4,
        table_size: int = 100_000,
        histogram: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("threads", 8)
        super().__init__(**kwargs)
        one_of("target.script", script, SCRIPTS)
        for key, value in (("tables", tables), ("table_size", table_size)):
            integer(f"target.{key}", value, 1)
        self.test = script
        self.tables, self.table_size = tables, table_size
        self.histogram = bool(histogram)
        self._database: Optional[str] = None

    # -- command lines (SysbenchTarget builds the rest) -----------------------------------------
    def test_options(self) -> list[str]:
        cluster = self.cluster
        opts = ["--db-driver=pgsql", f"--tables={self.tables}", f"--table-size={self.table_size}"]
        if cluster is not None and cluster.port is not None:
            opts += [f"--pgsql-host={cluster.host}", f"--pgsql-port={cluster.port}", "--pgsql-user=postgres",
                     f"--pgsql-db={self._database or self.dbname}"]
        if self.histogram:
            opts.append("--histogram=on")
        return opts

    # -- lifecycle ------------------------------------------------------------------------------
    def pre_execute(self) -> bool:
        self._binary = require_binary("sysbench", "sysbench")
        self._wrap_with_taskset([])
        return PostgresTarget.pre_execute(self)

    def template_name(self) -> str:
        return f"st_tpl_sysbench_t{self.tables}_n{self.table_size}_v{TEMPLATE_VERSION}"

    def build_template(self, dbname: str) -> None:
        out = self.results_dir / "template"
        out.mkdir(parents=True, exist_ok=True)
        self._database = dbname
        try:
            self._run(self.command(0, "prepare"), out, timeout_s=3600)
        finally:
            self._database = None

    def parse_results(self, output_dir: str | os.PathLike[str]) -> BenchmarkMetrics:
        metrics = super().parse_results(output_dir)
        text = (Path(output_dir) / OUTPUT).read_text(encoding="utf-8", errors="replace")
        for key, value in histogram_percentiles(text).items():
            metrics.extra_metrics.setdefault(key, value)
        values = parse_sysbench(text)
        done, errors = values.get("transactions"), values.get("errors")
        if done is not None and errors is not None and done + errors > 0:
            metrics.extra_metrics["error_rate"] = errors / (done + errors)
        return metrics

    def describe(self) -> dict[str, Any]:
        return {**SysbenchTarget.describe(self), **PostgresTarget.describe(self),
                "tables": self.tables, "table_size": self.table_size}
