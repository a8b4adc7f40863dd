"""``target=pgbench``: PostgreSQL's own benchmark (TPC-B-like or select-only) on the embedded server.

The ``pgbench_accounts`` data set (``scale`` × 100k rows) is a cached template; each run
works on a fresh clone. Each window is one ``pgbench -T <window>``: ``throughput`` and the
average latency come from pgbench's report, percentiles from its per-transaction log (``-l``,
optionally sampled). Select-only with one client (``pgbench_select``) is latency-bound, so it
is very sensitive to idle/halt-polling knobs on VMs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional, Sequence

from sematune.errors import TargetError
from sematune.targets._process import run_command
from sematune.targets.base import BenchmarkMetrics
from sematune.targets.postgres import PostgresTarget
from sematune.targets.postgres.latency import latency_stats
from sematune.targets.postgres.pgbench_output import log_files, parse_summary, read_transaction_log
from sematune.validate import integer, one_of, require

MODES = {"tpcb": "tpcb-like", "simple_update": "simple-update", "select": "select-only"}
PROTOCOLS = ("simple", "extended", "prepared")
LOG_PREFIX = "tx"
LATENCY_FILE = "pgbench_latency.json"
#: Bumped when the template's build changes.
TEMPLATE_VERSION = 1


def pgbench_command(
    pgbench: str,
    client_args: Sequence[str],
    *,
    mode: str,
    clients: int,
    threads: int,
    duration_s: int,
    protocol: str = "prepared",
    rate: Optional[float] = None,
    max_tries: int = 1,
    sampling_rate: float = 1.0,
) -> list[str]:
    """One window's ``pgbench`` argv (``client_args`` = connection options and the database)."""
    cmd = [pgbench, "-n", "-b", MODES[mode], "-M", protocol, "-c", str(clients), "-j", str(threads),
           "-T", str(duration_s), "-l", f"--log-prefix={LOG_PREFIX}"]
    if sampling_rate < 1.0:
        cmd.append(f"--sampling-rate={sampling_rate:g}")
    if rate:
        cmd += ["-R", f"{rate:g}"]
    if max_tries != 1:
        cmd.append(f"--max-tries={max_tries}")
    return [*cmd, *client_args]


def metrics_from_output(stdout: str, stderr: str, latency: dict[str, float]) -> BenchmarkMetrics:
    """``throughput`` = pgbench's tps (successful transactions/s, without connection time);
    ``latency_avg`` from the report; ``latency_p95``/``p50``/``p99`` from ``latency`` (the log).
    A value pgbench did not print is missing (None), never 0."""
    report = parse_summary(stdout, stderr)
    extra: dict[str, float] = {}
    for key in ("p50", "p99", "max"):
        if key in latency:
            extra[f"latency_{key}"] = latency[key]
    if report.latency_stddev_ms is not None:
        extra["latency_stddev"] = report.latency_stddev_ms
    if report.processed is not None and report.failed is not None:
        attempted = report.processed + report.failed
        if attempted:
            extra["error_rate"] = report.failed / attempted
            if report.retried is not None:
                extra["retry_rate"] = report.retried / attempted
    if report.aborted:
        extra["aborted"] = 1.0
    return BenchmarkMetrics(
        throughput=report.tps,
        goodput=report.tps,
        latency_avg=report.latency_avg_ms if report.latency_avg_ms is not None else latency.get("avg"),
        latency_p95=latency.get("p95"),
        extra_metrics=extra,
    )


class PgbenchTarget(PostgresTarget):
    """pgbench ``mode``: ``tpcb`` (TPC-B-like, the default), ``simple_update`` or ``select``."""

    default_objective = ("throughput", "maximize")

    def __init__(
        self,
        *,
        mode: str = "tpcb",
        scale: int = 10,
        clients: int = 8,
        threads: int = 0,
        protocol: str = "prepared",
        rate: Optional[float] = None,
        max_tries: int = 1,
        sampling_rate: float = 1.0,
        keep_logs: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        one_of("target.mode", mode, MODES)
        one_of("target.protocol", protocol, PROTOCOLS)
        for key, value, low in (("scale", scale, 1), ("clients", clients, 1), ("threads", threads, 0),
                                ("max_tries", max_tries, 0)):
            integer(f"target.{key}", value, low)
        require("target.rate", rate is None or (isinstance(rate, (int, float)) and rate > 0),
                f"must be a positive number of transactions/s or null, got {rate!r}")
        require("target.sampling_rate", 0 < float(sampling_rate) <= 1,
                f"must be in (0, 1], got {sampling_rate!r}")
        self.mode, self.scale, self.clients, self.protocol = mode, scale, clients, protocol
        usable = len(self.pin_to_cores or os.sched_getaffinity(0))
        self.threads = min(threads or usable, clients)
        self.rate = float(rate) if rate else None
        self.max_tries = max_tries
        self.sampling_rate = float(sampling_rate)
        self.keep_logs = bool(keep_logs)

    # -- template -------------------------------------------------------------------------------
    def template_name(self) -> str:
        return f"st_tpl_pgbench_s{self.scale}_v{TEMPLATE_VERSION}"

    def _pgbench(self) -> str:
        assert self.install is not None
        return self.install.exe("pgbench")

    def build_template(self, dbname: str) -> None:
        assert self.cluster is not None
        out = self.results_dir / "template"
        out.mkdir(parents=True, exist_ok=True)
        # d: drop, t: tables, G: server-side generate, v: vacuum, p: primary keys
        argv = [self._pgbench(), "-i", "-s", str(self.scale), "-I", "dtGvp", *self.cluster.client_args(dbname)]
        done = run_command(self._wrap_with_taskset(argv), timeout_s=3600, cwd=out,
                           stdout=out / "pgbench_init.out", stderr=out / "pgbench_init.err")
        if not done.ok:
            raise TargetError(f"pgbench -i failed: {done.describe_failure()}")

    # -- windows --------------------------------------------------------------------------------
    def command(self, duration: float) -> list[str]:
        cluster = self._require_cluster()
        return pgbench_command(
            self._pgbench(), cluster.client_args(self.dbname), mode=self.mode, clients=self.clients,
            threads=self.threads, duration_s=max(1, int(round(duration))), protocol=self.protocol,
            rate=self.rate, max_tries=self.max_tries, sampling_rate=self.sampling_rate,
        )

    def execute_window(self, window_number: int, duration: float) -> BenchmarkMetrics:
        out = self._window_output_dir(window_number)
        done = self.run_client(self.command(duration), out, name="pgbench",
                               timeout_s=max(1, round(duration)) + 120)
        if done.timed_out or done.returncode not in (0, 2):  # 2: some clients aborted
            raise TargetError(done.describe_failure())
        metrics = self.parse_results(out)
        if not self.keep_logs:  # the summary of the log is kept in LATENCY_FILE
            for path in log_files(out, LOG_PREFIX):
                path.unlink()
        return metrics

    def parse_results(self, output_dir: str | os.PathLike[str]) -> BenchmarkMetrics:
        out = Path(output_dir)
        try:
            stdout = (out / "pgbench.out").read_text(errors="replace")
        except OSError as exc:
            raise TargetError(f"no pgbench output in {out}: {exc}") from None
        stderr = (out / "pgbench.err").read_text(errors="replace") if (out / "pgbench.err").exists() else ""
        logs = log_files(out, LOG_PREFIX)
        if logs:
            txlog = read_transaction_log(logs, with_retries=self.max_tries != 1)
            latency = latency_stats(txlog.latency_ms[~txlog.failed])
            (out / LATENCY_FILE).write_text(json.dumps(latency), encoding="utf-8")
        elif (out / LATENCY_FILE).exists():
            latency = json.loads((out / LATENCY_FILE).read_text(encoding="utf-8"))
        else:
            latency = {}
        metrics = metrics_from_output(stdout, stderr, latency)
        if metrics.throughput is None:
            raise TargetError(f"pgbench printed no tps line in {out / 'pgbench.out'}; see pgbench.err next to it")
        return metrics

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "mode": self.mode, "scale": self.scale, "clients": self.clients,
                "threads": self.threads, "protocol": self.protocol}
