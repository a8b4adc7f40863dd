"""The psycopg 3 TPC-C driver: terminal threads that run continuously across windows.

Each terminal owns one connection and a home warehouse (and district, for Stock-Level), and
calls the stored functions through libpq directly (prepared, text parameters fixed per
terminal), so the Python cost per transaction is a few microseconds and the GIL is released
while the server works. Every completed transaction is recorded as
``(end_ns, type, latency_ns, outcome, retries)``; a window takes exactly the records that
ended inside it.

Closed loop by default (each terminal runs back to back, optionally with the spec's keying
and think times scaled by ``think_time_scale``). With ``rate`` set it is open loop: arrivals
follow a shared schedule (Poisson or uniform) and latency is measured from the *intended*
start, so queueing delay counts (no coordinated omission).
"""

from __future__ import annotations

import collections
import logging
import os
import random
import threading
import time
from bisect import bisect_right
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Deque, Optional, Sequence

from sematune.errors import TargetError

log = logging.getLogger(__name__)

TX_TYPES = ("new_order", "payment", "order_status", "delivery", "stock_level")
#: The spec's minimum mix (clause 5.2.3), as weights.
SPEC_MIX = (45, 43, 4, 4, 4)
#: Keying times and mean think times in seconds (clause 5.2.5.7).
KEYING_S = (18.0, 3.0, 2.0, 2.0, 2.0)
THINK_MEAN_S = (12.0, 12.0, 10.0, 5.0, 5.0)
COMMIT, ROLLBACK, ERROR = 0, 1, 2
#: serialization_failure and deadlock_detected: retried.
RETRYABLE = {b"40001", b"40P01"}
_SQL = (
    b"SELECT tpcc_new_order($1::int, $2::int)",
    b"SELECT tpcc_payment($1::int, $2::int)",
    b"SELECT tpcc_order_status($1::int)",
    b"SELECT tpcc_delivery($1::int)",
    b"SELECT tpcc_stock_level($1::int, $2::int)",
)

_NAMES = tuple(b"t%d" % kind for kind in range(len(_SQL)))
_TUPLES_OK = 2  # psycopg.pq.ExecStatus.TUPLES_OK (libpq's PGRES_TUPLES_OK)

Record = tuple[int, int, int, int, int]


@dataclass
class DriverSettings:
    """How the terminals run (see :class:`~sematune.targets.tpcc.TpccTarget`)."""

    warehouses: int
    clients: int
    mix: Sequence[float] = SPEC_MIX
    rate: Optional[float] = None
    arrivals: str = "poisson"
    think_time_scale: float = 0.0
    max_tries: int = 10
    seed: int = 0
    cores: Sequence[int] = field(default_factory=list)


class _Arrivals:
    """The open-loop schedule shared by all terminals."""

    def __init__(self, rate: float, poisson: bool, seed: int) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.poisson = poisson
        self.set_rate(rate)
        self._next = time.perf_counter_ns()

    def set_rate(self, rate: float) -> None:
        self._mean_ns = 1e9 / rate

    def reset(self) -> None:
        """Forget the backlog (e.g. after a configuration change)."""
        with self._lock:
            self._next = max(self._next, time.perf_counter_ns())

    def take(self) -> int:
        with self._lock:
            t = self._next
            gap = self._rng.expovariate(1.0) * self._mean_ns if self.poisson else self._mean_ns
            self._next = t + int(gap)
            return t


class _Terminal(threading.Thread):
    def __init__(self, driver: "TpccDriver", index: int) -> None:
        super().__init__(name=f"tpcc-terminal-{index}", daemon=True)
        self.driver = driver
        self.index = index
        s = driver.settings
        warehouse = index % s.warehouses + 1
        district = (index // s.warehouses) % 10 + 1
        w, nw, d = str(warehouse).encode(), str(s.warehouses).encode(), str(district).encode()
        self.params = ([w, nw], [w, nw], [w], [w], [w, d])
        self.rng = random.Random(s.seed * 1000003 + index)
        self.records: Deque[Record] = collections.deque()
        self.conn = None
        self.error: Optional[BaseException] = None

    def _connect(self) -> None:
        import psycopg

        self.conn = psycopg.connect(self.driver.conninfo, autocommit=True)
        pgconn = self.conn.pgconn
        for name, sql in zip(_NAMES, _SQL):
            res = pgconn.prepare(name, sql)
            if res.error_message:
                raise TargetError(f"preparing {sql.decode()} failed: {res.error_message.decode(errors='replace')}")

    def _execute(self, kind: int) -> tuple[int, int]:
        """Run one transaction with retries; returns (outcome, retries)."""
        import psycopg
        from psycopg import pq

        assert self.conn is not None
        pgconn = self.conn.pgconn
        name, params = _NAMES[kind], self.params[kind]
        retries = 0
        while True:
            try:
                res = pgconn.exec_prepared(name, params)  # libpq, GIL released while waiting
            except psycopg.Error as exc:  # could not even send: the connection is gone
                raise ConnectionError(str(exc)) from exc
            if res.status == _TUPLES_OK:
                if kind == 0 and res.get_value(0, 0) == b"0":
                    return ROLLBACK, retries
                return COMMIT, retries
            state = res.error_field(pq.DiagnosticField.SQLSTATE)
            if state in RETRYABLE and retries + 1 < self.driver.settings.max_tries:
                retries += 1
                continue
            if pgconn.status != pq.ConnStatus.OK:
                raise ConnectionError(res.error_message.decode(errors="replace"))
            self.driver.note_error(kind, state, res.error_message)
            return ERROR, retries

    def run(self) -> None:
        driver, s = self.driver, self.driver.settings
        if s.cores:
            try:
                os.sched_setaffinity(threading.get_native_id(), s.cores)
            except OSError as exc:
                log.warning("could not pin terminal %d: %s", self.index, exc)
        try:
            self._connect()
        except BaseException as exc:
            self.error = exc
            driver.ready.release()
            return
        driver.ready.release()
        cum, total = driver.cumulative, driver.cumulative[-1]
        stop, records = driver.stop_event, self.records
        perf_ns, rng = time.perf_counter_ns, self.rng
        try:
            while not stop.is_set():
                if self.index >= driver.active_clients:
                    stop.wait(0.05)
                    continue
                kind = bisect_right(cum, rng.random() * total)
                arrivals = driver.arrivals
                if arrivals is not None:
                    intended = arrivals.take()
                    wait_ns = intended - perf_ns()
                    if wait_ns > 0 and stop.wait(wait_ns / 1e9):
                        break
                elif s.think_time_scale > 0:
                    if stop.wait(KEYING_S[kind] * s.think_time_scale):
                        break
                    intended = perf_ns()
                else:
                    intended = perf_ns()
                try:
                    outcome, retries = self._execute(kind)
                except ConnectionError as exc:
                    if stop.is_set():
                        break
                    records.append((perf_ns(), kind, perf_ns() - intended, ERROR, 0))
                    driver.note_error(kind, b"08006", str(exc).encode())
                    self._reconnect()
                    continue
                end = perf_ns()
                records.append((end, kind, end - intended, outcome, retries))
                if arrivals is None and s.think_time_scale > 0:
                    think = min(rng.expovariate(1.0 / THINK_MEAN_S[kind]), 10 * THINK_MEAN_S[kind])
                    if stop.wait(think * s.think_time_scale):
                        break
        except BaseException as exc:  # a bug here must surface in the next window, not vanish
            if not stop.is_set():
                self.error = exc
        finally:
            self._close()

    def _reconnect(self) -> None:
        self._close()
        while not self.driver.stop_event.is_set():
            try:
                self._connect()
                return
            except Exception as exc:
                log.warning("terminal %d: reconnect failed: %s", self.index, exc)
                self.driver.stop_event.wait(0.5)

    def _close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass


class TpccDriver:
    """Starts ``clients`` terminal threads (at most ``max_clients`` over the run) and collects windows."""

    def __init__(self, conninfo: str, settings: DriverSettings, max_clients: Optional[int] = None) -> None:
        self.conninfo = conninfo
        self.settings = settings
        self.max_clients = max(settings.clients, max_clients or 0)
        self.active_clients = settings.clients
        self.cumulative = list(accumulate(float(w) for w in settings.mix))
        self.arrivals: Optional[_Arrivals] = None
        if settings.rate:
            self.arrivals = _Arrivals(settings.rate, settings.arrivals == "poisson", settings.seed)
        self.stop_event = threading.Event()
        self.ready = threading.Semaphore(0)
        self.terminals: list[_Terminal] = []
        self._errors: collections.Counter[tuple[int, str]] = collections.Counter()
        self._error_samples: dict[str, str] = {}
        self._errors_lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, timeout_s: float = 60.0) -> None:
        """Connect every terminal (fails fast if any cannot) and start the load."""
        self.terminals = [_Terminal(self, i) for i in range(self.max_clients)]
        for term in self.terminals:
            term.start()
        deadline = time.monotonic() + timeout_s
        for _ in self.terminals:
            if not self.ready.acquire(timeout=max(0.0, deadline - time.monotonic())):
                self.stop()
                raise TargetError(f"TPC-C terminals did not connect within {timeout_s:.0f} s")
        failed = [t.error for t in self.terminals if t.error is not None]
        if failed:
            self.stop()
            raise TargetError(f"a TPC-C terminal could not start: {failed[0]}")

    def stop(self, timeout_s: float = 10.0) -> None:
        self.stop_event.set()
        deadline = time.monotonic() + timeout_s
        for term in self.terminals:
            term.join(max(0.0, deadline - time.monotonic()))
        self.terminals = []

    def set_load(self, clients: Optional[int] = None, rate: Optional[float] = None) -> None:
        """Change the number of active terminals (≤ ``max_clients``) and/or the arrival rate."""
        if clients is not None:
            self.active_clients = max(1, min(int(clients), self.max_clients))
        if rate is not None:
            if self.arrivals is None:
                self.arrivals = _Arrivals(rate, self.settings.arrivals == "poisson", self.settings.seed)
            else:
                self.arrivals.set_rate(rate)
                self.arrivals.reset()

    def reset_backlog(self) -> None:
        """Drop open-loop arrivals that are overdue (a new configuration starts without a queue)."""
        if self.arrivals is not None:
            self.arrivals.reset()

    # -- measuring ------------------------------------------------------------------------------
    def note_error(self, kind: int, sqlstate: Optional[bytes], message: Optional[bytes]) -> None:
        state = (sqlstate or b"?????").decode(errors="replace")
        with self._errors_lock:
            self._errors[(kind, state)] += 1
            self._error_samples.setdefault(state, (message or b"").decode(errors="replace").strip()[:300])

    def errors(self) -> dict[str, str]:
        """One sample message per SQLSTATE seen so far."""
        with self._errors_lock:
            return dict(self._error_samples)

    def collect(self, start_ns: int, end_ns: int) -> list[Record]:
        """Records of transactions that ended in ``[start_ns, end_ns)``; older ones are discarded."""
        broken = [t for t in self.terminals if t.error is not None]
        if broken:
            raise TargetError(f"TPC-C terminal {broken[0].index} failed: {broken[0].error!r}")
        out: list[Record] = []
        for term in self.terminals:
            records = term.records
            while records and records[0][0] < end_ns:
                rec = records.popleft()
                if rec[0] >= start_ns:
                    out.append(rec)
        return out
