"""Redis target: a private ``redis-server`` on a free loopback port, ``redis-benchmark --csv`` per window.

The server (Debian ``redis-server``) runs without persistence in ``<results_dir>/redis`` for the
whole run and is stopped in :meth:`RedisTarget.cleanup` — also after a failure or SIGTERM (and,
through ``PR_SET_PDEATHSIG``, if SemaTune is killed). ``redis-benchmark`` (Debian ``redis-tools``)
has no time limit, only a request count, so each window's ``-n`` is scaled from the previous
run's wall time to last about the window length (a short calibration run in ``pre_execute``
gives the first estimate). With ``clients: 1`` the loop is latency-bound: each request is one
round trip, the case where idle/halt-polling knobs matter most on a VM.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import socket
import time
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from sematune.errors import TargetError
from sematune.targets._process import ChildProcess, free_port, require_binary, run_command, tail
from sematune.targets.base import BenchmarkMetrics, Target
from sematune.validate import require

OUTPUT = "redis-benchmark.csv"
ERRORS = "redis-benchmark.err"
_COLUMNS = {"rps": "rps", "avg_latency_ms": "latency_avg", "min_latency_ms": "latency_min",
            "p50_latency_ms": "latency_p50", "p95_latency_ms": "latency_p95", "p99_latency_ms": "latency_p99",
            "max_latency_ms": "latency_max"}


def _slug(test: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", test.lower()).strip("_")


def parse_redis_csv(text: str) -> dict[str, dict[str, float]]:
    """``{test: {rps, latency_avg, latency_p50, latency_p95, latency_p99, …}}`` from ``--csv`` output.

    Cells that do not parse are left out; unknown columns are ignored; the header-less
    ``"test","rps"`` output of redis-benchmark before 7.0 gives ``rps`` only.
    """
    out: dict[str, dict[str, float]] = {}
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    if not rows:
        return out
    if rows[0][0] == "test":
        header, rows = rows[0], rows[1:]
    else:  # redis-benchmark before 7.0: no header, "test","rps" only
        header = ["test", "rps"]
    for row in rows:
        values: dict[str, float] = {}
        for name, cell in zip(header[1:], row[1:]):
            key = _COLUMNS.get(name)
            try:
                number = float(cell)
            except ValueError:
                continue
            if key and math.isfinite(number):
                values[key] = number
        if row[0] and values:
            out[row[0]] = values
    return out


def combine(results: Mapping[str, Mapping[str, float]], requests: int) -> BenchmarkMetrics:
    """One window's metrics from per-test rows (each test ran ``requests`` requests).

    ``throughput`` = all requests / the time all tests took; ``latency_avg`` = the
    request-weighted mean; ``latency_p95`` and extra ``latency_p50/p99`` = the worst test's
    (percentiles do not average); per-test values go to extras as ``<test>_rps`` and
    ``<test>_latency_*``.
    """
    extra: dict[str, float] = {}
    for test, values in results.items():
        slug = _slug(test)
        for key, value in values.items():
            extra[f"{slug}_{key}"] = value
    rates = [v["rps"] for v in results.values() if v.get("rps")]
    throughput = None
    if rates and len(rates) == len(results):
        throughput = len(rates) / sum(1.0 / r for r in rates)  # n requests per test at each rate
    avgs = [v["latency_avg"] for v in results.values() if "latency_avg" in v]
    worst = {key: max((v[key] for v in results.values() if key in v), default=None)
             for key in ("latency_p50", "latency_p95", "latency_p99", "latency_max")}
    for key in ("latency_p50", "latency_p99", "latency_max"):
        if worst[key] is not None:
            extra[key] = worst[key]
    if requests > 0:
        extra["requests_per_test"] = float(requests)
    return BenchmarkMetrics(
        throughput=throughput,
        goodput=throughput,  # redis-benchmark counts completed requests only
        latency_avg=sum(avgs) / len(avgs) if avgs and len(avgs) == len(results) else None,
        latency_p95=worst["latency_p95"],
        extra_metrics=extra,
    )


class RedisTarget(Target):
    """``redis-benchmark`` against a private ``redis-server``; ``throughput`` = requests/s."""

    def __init__(
        self,
        *,
        tests: str | Sequence[str] = "get,set",
        clients: int = 50,
        pipeline: int = 1,
        data_size: int = 3,
        keyspace: int = 100000,
        benchmark_threads: int = 0,
        requests: Optional[int] = None,
        min_requests: int = 1000,
        calibration_requests: int = 5000,
        port: int = 0,
        server_args: Sequence[str] = (),
        start_timeout_s: float = 15.0,
        results_dir: str | os.PathLike[str] | None = None,
        pin_to_cores: str | Sequence[int] | None = None,
        objective: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(results_dir=results_dir, pin_to_cores=pin_to_cores, objective=objective)
        names = tests.split(",") if isinstance(tests, str) else list(tests)
        self.tests = [str(t).strip().lower() for t in names if str(t).strip()]
        require("target.tests", self.tests and all(re.fullmatch(r"[a-z_]+", t) for t in self.tests),
                f"must be redis-benchmark test names like 'get,set', got {tests!r}")
        for key, value, low in (("clients", clients, 1), ("pipeline", pipeline, 1), ("data_size", data_size, 1),
                                ("keyspace", keyspace, 0), ("benchmark_threads", benchmark_threads, 0),
                                ("min_requests", min_requests, 1), ("calibration_requests", calibration_requests, 1),
                                ("port", port, 0)):
            require(f"target.{key}", int(value) >= low, f"must be >= {low}, got {value}")
        require("target.requests", requests is None or int(requests) >= 1,
                f"must be >= 1 or null (auto from the window length), got {requests}")
        require("target.server_args", not isinstance(server_args, str),
                "must be a list like ['--io-threads', '2']")
        self.clients, self.pipeline, self.data_size = int(clients), int(pipeline), int(data_size)
        self.keyspace, self.benchmark_threads = int(keyspace), int(benchmark_threads)
        self.fixed_requests = int(requests) if requests is not None else None
        self.min_requests, self.calibration_requests = int(min_requests), int(calibration_requests)
        self.port = int(port)
        self.server_args = [str(a) for a in server_args]
        self.start_timeout_s = float(start_timeout_s)
        self.server: Optional[ChildProcess] = None
        self.benchmark: Optional[ChildProcess] = None
        self._server_bin: Optional[str] = None
        self._bench_bin: Optional[str] = None
        self._seconds_per_request: Optional[float] = None

    # -- command lines ------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.results_dir / "redis"

    def server_command(self) -> list[str]:
        argv = [self._server_bin or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
                "--dir", str(self.data_dir), "--logfile", str(self.data_dir / "redis-server.log"),
                "--pidfile", str(self.data_dir / "redis-server.pid"),
                *self.server_args]
        return self._wrap_with_taskset(argv)

    def benchmark_command(self, requests: int) -> list[str]:
        argv = [self._bench_bin or "redis-benchmark", "-h", "127.0.0.1", "-p", str(self.port),
                "-c", str(self.clients), "-n", str(requests), "-P", str(self.pipeline), "-d", str(self.data_size),
                "-t", ",".join(self.tests), "--csv"]
        if self.keyspace:
            argv += ["-r", str(self.keyspace)]
        if self.benchmark_threads:
            argv += ["--threads", str(self.benchmark_threads)]
        return self._wrap_with_taskset(argv)

    def requests_for(self, duration: float) -> int:
        """``-n`` per test so that one window lasts about ``duration`` seconds."""
        if self.fixed_requests is not None:
            return self.fixed_requests
        if not self._seconds_per_request:
            return self.calibration_requests
        estimate = duration / (self._seconds_per_request * len(self.tests))
        return max(self.min_requests, round(estimate))

    # -- lifecycle ----------------------------------------------------------------------------
    def pre_execute(self) -> bool:
        self._server_bin = require_binary("redis-server", "redis-server")
        self._bench_bin = require_binary("redis-benchmark", "redis-tools")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        self.server = ChildProcess(self.server_command(), cwd=self.data_dir,
                                   stdout=self.data_dir / "redis-server.out", stderr=self.data_dir / "redis-server.out")
        (self.data_dir / "server.json").write_text(
            json.dumps({"pid": self.server.pid, "port": self.port, "argv": self.server.argv}, indent=2))
        self._wait_ready()
        if self.fixed_requests is None:  # calibration: the first estimate of seconds per request
            self._bench(self.data_dir, self.calibration_requests, timeout_s=120)
        return True

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def _wait_ready(self) -> None:
        assert self.server is not None
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if not self.server.alive:
                raise TargetError(f"redis-server exited with code {self.server.returncode}: "
                                  f"{self._server_log_tail()}")
            if self._ping():
                return
            time.sleep(0.05)
        raise TargetError(f"redis-server did not answer PING on 127.0.0.1:{self.port} within "
                          f"{self.start_timeout_s:g} s: {self._server_log_tail()}")

    def _server_log_tail(self) -> str:
        return tail(self.data_dir / "redis-server.log") or tail(self.data_dir / "redis-server.out") or "no log"

    def _bench(self, out_dir: Path, requests: int, timeout_s: float) -> None:
        if self.server is None or not self.server.alive:
            raise TargetError(f"redis-server is not running: {self._server_log_tail()}")

        def started(child: ChildProcess) -> None:
            self.benchmark = child

        try:
            done = run_command(self.benchmark_command(requests), timeout_s=timeout_s, cwd=out_dir,
                               stdout=out_dir / OUTPUT, stderr=out_dir / ERRORS, on_start=started)
        finally:
            self.benchmark = None
        done.extra["requests_per_test"] = requests
        done.save(out_dir / "command.json")
        if not done.ok:
            raise TargetError(f"redis-benchmark failed: {done.describe_failure()}")
        self._seconds_per_request = done.wall_s / (requests * len(self.tests))

    def execute_window(self, window_number: int, duration: float) -> BenchmarkMetrics:
        out_dir = self._window_output_dir(window_number)
        requests = self.requests_for(duration)
        self._bench(out_dir, requests, timeout_s=max(4 * duration, duration + 60))
        return self.parse_results(out_dir)

    def parse_results(self, output_dir: str | os.PathLike[str]) -> BenchmarkMetrics:
        path = Path(output_dir) / OUTPUT
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise TargetError(f"no redis-benchmark output at {path}: {exc.strerror}") from None
        results = parse_redis_csv(text)
        if not results:
            raise TargetError(f"no CSV rows in {path} (see {ERRORS} next to it)")
        requests = self.fixed_requests or 0
        meta = Path(output_dir) / "command.json"
        if meta.exists():
            requests = int(json.loads(meta.read_text()).get("extra", {}).get("requests_per_test", requests))
        return combine(results, requests)

    def processes(self) -> list[int]:
        return [child.pid for child in (self.server, self.benchmark) if child is not None and child.alive]

    def cleanup(self) -> None:
        for child in (self.benchmark, self.server):
            if child is not None:
                child.stop(grace_s=5.0)
        self.benchmark = self.server = None

    def describe(self) -> dict[str, Any]:
        return {"benchmark": "redis-benchmark", "tests": ",".join(self.tests), "clients": self.clients,
                "pipeline": self.pipeline, "data_size": self.data_size}
