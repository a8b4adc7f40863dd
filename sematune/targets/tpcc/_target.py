"""``target=tpcc``: TPC-C on a fresh clone of a cached, loaded template database."""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any, Mapping, Optional

from sematune.errors import TargetError
from sematune.targets.base import BenchmarkMetrics
from sematune.targets.postgres import PostgresTarget
from sematune.targets.postgres.activity import counter_delta, server_counters
from sematune.targets.tpcc import _loader
from sematune.targets.tpcc._driver import SPEC_MIX, TX_TYPES, DriverSettings, TpccDriver
from sematune.targets.tpcc._pgbench import pgbench_command, summarize_pgbench, write_counters, write_scripts
from sematune.targets.tpcc._summary import metrics_from_summary, read_summary, summarize_records, write_summary
from sematune.validate import integer, is_int, is_number, one_of, require

log = logging.getLogger(__name__)

DRIVERS = ("psycopg", "pgbench")
#: Server settings under the user's ``server_settings`` (``stable_server: true``) that keep the
#: server's own background work from landing in some windows and not others: no timed or
#: WAL-size checkpoint within a run (its write burst and the full-page writes after it slow
#: the windows they fall in), and autovacuum woken every second, so it does small rounds in
#: every window instead of one large round a minute (5 s, tried first, fell into every other
#: window of a 2.5 s window cycle: those windows ran ~20% slower). See docs/targets.md#tpc-c.
STABILITY_SETTINGS = {
    "checkpoint_timeout": "1h",
    "max_wal_size": "8GB",
    "autovacuum_naptime": "1s",
}


def _rate(key: str, value: Any) -> Optional[float]:
    if value is None:
        return None
    require(f"target.{key}", is_number(value) and value > 0 and math.isfinite(value),
            f"must be a positive number of transactions/s or null, got {value!r}")
    return float(value)


class TpccTarget(PostgresTarget):
    """TPC-C: 9 tables, the five transactions as stored functions, the spec's mix.

    Tuned for ``tpmC`` (maximise) unless ``objective`` says otherwise. See docs/targets.md.
    """

    default_objective = ("tpmC", "maximize")

    def __init__(
        self,
        *,
        warehouses: int = 2,
        clients: int = 8,
        driver: str = "psycopg",
        rate: Optional[float] = None,
        arrivals: str = "poisson",
        think_time_scale: float = 0.0,
        mix: Optional[Mapping[str, int]] = None,
        max_tries: int = 10,
        workload_change: Optional[Mapping[str, Any]] = None,
        checkpoint_every_window: bool = False,
        warmup_s: float = 1.0,
        seed: int = 0,
        stable_server: bool = True,
        server_settings: Optional[Mapping[str, Any]] = None,
        **kwargs: Any,
    ) -> None:
        base = STABILITY_SETTINGS if stable_server else {}
        super().__init__(server_settings={**base, **dict(server_settings or {})}, **kwargs)
        self.warehouses = integer("target.warehouses", warehouses, 1)
        self.clients = integer("target.clients", clients, 1)
        self.max_tries = integer("target.max_tries", max_tries, 1)
        one_of("target.driver", driver, DRIVERS)
        self.driver_kind = driver
        self.rate = _rate("rate", rate)
        require("target.arrivals", arrivals in ("poisson", "uniform"),
                f"must be poisson or uniform, got {arrivals!r}")
        self.arrivals = arrivals
        require("target.think_time_scale", isinstance(think_time_scale, (int, float)) and not think_time_scale < 0,
                f"must be >= 0, got {think_time_scale!r}")
        self.think_time_scale = float(think_time_scale)
        require("target.think_time_scale", not (driver == "pgbench" and self.think_time_scale > 0),
                "keying/think times need driver=psycopg")
        require("target.think_time_scale", not (self.rate and self.think_time_scale > 0),
                "is for closed-loop runs; unset it or target.rate")
        self.mix = self._parse_mix(mix)
        self.workload_change = self._parse_change(workload_change)
        require("target.warmup_s", not (warmup_s < 0), f"must be >= 0, got {warmup_s}")
        self.warmup_s = float(warmup_s)
        self.checkpoint_every_window = bool(checkpoint_every_window)
        self.seed = int(seed)
        self.driver: Optional[TpccDriver] = None
        self.load_timings: dict[str, float] = {}
        self._current_clients = self.clients
        self._current_rate = self.rate

    # -- config ---------------------------------------------------------------------------------
    @staticmethod
    def _parse_mix(mix: Optional[Mapping[str, int]]) -> dict[str, int]:
        if mix is None:
            return dict(zip(TX_TYPES, SPEC_MIX))
        unknown = sorted(set(mix) - set(TX_TYPES))
        require("target.mix", not unknown, f"unknown transaction types {unknown}; use {', '.join(TX_TYPES)}")
        out = {name: mix.get(name, 0) for name in TX_TYPES}
        for name, weight in out.items():
            require(f"target.mix.{name}", is_int(weight) and weight >= 0,
                    f"must be an integer weight >= 0, got {weight!r}")
        require("target.mix", sum(out.values()) != 0, "all weights are 0")
        return out

    def _parse_change(self, change: Optional[Mapping[str, Any]]) -> Optional[dict[str, Any]]:
        if not change:
            return None
        unknown = sorted(set(change) - {"every", "clients", "rate"})
        require("target.workload_change", not unknown, f"unknown keys {unknown}; use every, clients, rate")
        every = integer("target.workload_change.every", change.get("every"), 1)
        clients = [integer("target.workload_change.clients", c, 1) for c in (change.get("clients") or [])]
        rates = [_rate("workload_change.rate", r) for r in (change.get("rate") or [])]
        require("target.workload_change", clients or rates,
                "needs a clients and/or rate list")
        require("target.workload_change.rate", not (rates and self.think_time_scale > 0),
                "open-loop rates cannot be combined with think times")
        return {"every": every, "clients": clients, "rate": rates}

    # -- template -------------------------------------------------------------------------------
    def template_name(self) -> str:
        return f"st_tpl_tpcc_w{self.warehouses}_{_loader.schema_version()}"

    def build_template(self, dbname: str) -> None:
        assert self.cluster is not None
        cluster = self.cluster
        self.load_timings = _loader.load(lambda: cluster.connect(dbname), self.warehouses)

    # -- workload -------------------------------------------------------------------------------
    def start_workload(self) -> None:
        cluster = self._require_cluster()
        assert self.dbname is not None
        if self.driver_kind == "pgbench":
            self._scripts = write_scripts(self.results_dir / "pgbench_scripts")
            self._pgbench = cluster.install.exe("pgbench")
            return
        max_clients = max([self.clients, *(self.workload_change or {}).get("clients", [])])
        self.driver = TpccDriver(
            cluster.conninfo(self.dbname),
            DriverSettings(
                warehouses=self.warehouses, clients=self.clients, mix=[self.mix[n] for n in TX_TYPES],
                rate=self.rate, arrivals=self.arrivals, think_time_scale=self.think_time_scale,
                max_tries=self.max_tries, seed=self.seed, cores=list(self.pin_to_cores),
            ),
            max_clients=max_clients,
        )
        self.driver.start()
        if self.warmup_s:
            time.sleep(self.warmup_s)

    def stop_workload(self) -> None:
        driver, self.driver = self.driver, None
        if driver is not None:
            driver.stop()
            errors = driver.errors()
            if errors:
                log.warning("TPC-C errors seen during the run (one sample per SQLSTATE): %s", errors)

    def update_workload(self, iteration: int) -> None:
        change = self.workload_change
        if not change:
            return
        step = iteration // change["every"]
        clients = change["clients"][step % len(change["clients"])] if change["clients"] else None
        rate = change["rate"][step % len(change["rate"])] if change["rate"] else None
        if clients == self._current_clients and (rate is None or rate == self._current_rate):
            return
        log.info("window %d: workload now clients=%s rate=%s", iteration, clients, rate)
        if clients is not None:
            self._current_clients = clients
        if rate is not None:
            self._current_rate = rate
        if self.driver is not None:
            self.driver.set_load(clients=clients, rate=rate)

    def on_configuration_applied(self, applied: Mapping[str, Any]) -> None:
        if self.driver is not None:
            self.driver.reset_backlog()
        if self.checkpoint_every_window and self.cluster is not None and self.dbname:
            with self.cluster.connect(self.dbname) as conn:
                conn.execute("CHECKPOINT")

    # -- windows --------------------------------------------------------------------------------
    def _server_counters(self) -> dict[str, int]:
        cluster = self._require_cluster()
        with cluster.connect(self.dbname or "") as conn:
            return server_counters(conn, cluster.install.major)

    def execute_window(self, window_number: int, duration: float) -> BenchmarkMetrics:
        out = self._window_output_dir(window_number)
        before = self._server_counters()
        if self.driver_kind == "pgbench":
            summary = self._pgbench_window(out, duration)
        else:
            if self.driver is None:
                raise TargetError("TPC-C driver is not running (pre_execute first)")
            start = time.perf_counter_ns()
            time.sleep(duration)
            end = time.perf_counter_ns()
            summary = summarize_records(self.driver.collect(start, end), (end - start) / 1e9)
            summary.update(driver="psycopg", errors=self.driver.errors())
        summary.update(clients=self._current_clients, rate=self._current_rate,
                       server=counter_delta(before, self._server_counters()))
        write_summary(summary, out)
        return self.parse_results(out)

    def _next_o_id_sum(self) -> int:
        cluster = self._require_cluster()
        with cluster.connect(self.dbname or "") as conn:
            return int(conn.execute("SELECT sum(d_next_o_id) FROM district").fetchone()[0])

    def _pgbench_window(self, out: Path, duration: float) -> dict[str, Any]:
        cluster = self._require_cluster()
        seconds = max(1, int(round(duration)))
        cmd, order = pgbench_command(
            self._pgbench, cluster.client_args(self.dbname), self._scripts, self.mix,
            warehouses=self.warehouses, clients=self._current_clients,
            threads=min(self._current_clients, os.cpu_count() or 1), duration_s=seconds,
            max_tries=self.max_tries, rate=self._current_rate,
        )
        before = self._next_o_id_sum()
        done = self.run_client(cmd, out, name="pgbench", timeout_s=seconds + 120)
        after = self._next_o_id_sum()
        write_counters(out, before, after, order, self.max_tries)
        if done.timed_out or done.returncode not in (0, 2):  # 2: some clients aborted (reported below)
            raise TargetError(done.describe_failure())
        summary = summarize_pgbench(out, done.stdout(), (out / "pgbench.err").read_text(errors="replace"))
        summary.update(driver="pgbench")
        return summary

    def parse_results(self, output_dir: str | os.PathLike[str]) -> BenchmarkMetrics:
        return metrics_from_summary(read_summary(output_dir))

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info.update(warehouses=self.warehouses, clients=self.clients, driver=self.driver_kind,
                    mix="/".join(str(self.mix[n]) for n in TX_TYPES))
        if self.rate:
            info["rate"] = self.rate
        if self.think_time_scale:
            info["think_time_scale"] = self.think_time_scale
        for key, value in self.load_timings.items():
            info[f"load_{key}"] = round(value, 3)
        return info
