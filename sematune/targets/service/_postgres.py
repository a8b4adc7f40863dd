"""PostgreSQL preset: ``pg_stat_database`` and ``pg_stat_statements`` deltas of the user's own server.

``throughput`` = transactions (commits + rollbacks) per second over ``databases`` (all when
empty; SemaTune's own reading transactions taken out), ``service/commits_per_s``,
``service/rollbacks_per_s``, ``service/cache_hit_ratio``. When the ``pg_stat_statements``
extension is installed in the database SemaTune connects to: ``latency_avg`` = mean statement
execution time (ms) over the window's calls, ``service/calls_per_s``, and
``service/stmt_time_p95_est_ms`` — an *estimate*: PostgreSQL keeps no per-statement histogram,
so it is the 95th percentile of a mixture of normal distributions with each statement's window
mean and standard deviation (from the cumulative mean/stddev deltas), weighted by its calls.
Backends flush their ``pg_stat_database`` counts about once a second, so windows of a few
seconds or more are needed for tps; ``pg_stat_statements`` counts at once.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

from sematune.errors import TargetError
from sematune.targets.service import _window_math as wm
from sematune.targets.service._source import MetricSource, Reading

_TAG = "sematune-service-probe"
_DB = (f"SELECT /* {_TAG} */ coalesce(sum(xact_commit), 0), coalesce(sum(xact_rollback), 0), "
       "coalesce(sum(blks_hit), 0), coalesce(sum(blks_read), 0), "
       "coalesce(bool_or(datname = current_database()), false) FROM pg_stat_database "
       "WHERE datname IS NOT NULL AND (cardinality(%(dbs)s::text[]) = 0 OR datname = ANY(%(dbs)s::text[]))")
_STATEMENTS = (f"SELECT /* {_TAG} */ s.userid, s.dbid, s.queryid, s.calls, s.{{total}}, s.{{stddev}} "
               "FROM pg_stat_statements s LEFT JOIN pg_database d ON d.oid = s.dbid "
               f"WHERE s.query NOT LIKE '%%{_TAG}%%' "
               "AND (cardinality(%(dbs)s::text[]) = 0 OR d.datname = ANY(%(dbs)s::text[]))")


def mixture_quantile(q: float, parts: Sequence[tuple[float, float, float]]) -> Optional[float]:
    """The ``q`` quantile of a mixture of normals given as ``(weight, mean, sd)`` (bisection)."""
    parts = [(w, m, s) for w, m, s in parts if w > 0]
    total = sum(w for w, _, _ in parts)
    if not parts or total <= 0:
        return None

    def cdf(x: float) -> float:
        acc = 0.0
        for w, m, s in parts:
            acc += w * ((1.0 if x >= m else 0.0) if s <= 0 else 0.5 * (1 + math.erf((x - m) / (s * math.sqrt(2)))))
        return acc / total

    lo = min(m - 8 * s for _, m, s in parts)
    hi = max(m + 8 * s for _, m, s in parts)
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < q else (lo, mid)
    return max(hi, 0.0)


class PostgresSource(MetricSource):
    """One connection (``conninfo``, libpq syntax) reading the statistics views."""

    def __init__(self, *, conninfo: str = "host=127.0.0.1 port=5432 dbname=postgres",
                 databases: Sequence[str] = (), statements: bool = True, timeout_s: float = 5.0,
                 sample_interval_s: float = 1.0) -> None:
        if not isinstance(conninfo, str) or not conninfo.strip():
            raise ValueError("conninfo must be a libpq connection string like 'host=127.0.0.1 port=5432 user=me'")
        self.conninfo = conninfo
        self.databases = [str(d) for d in databases]
        self.statements = statements
        self.timeout_s = timeout_s
        self.sample_interval_s = sample_interval_s
        self._conn: Any = None
        self._statement_sql: Optional[str] = None

    def _connect(self) -> Any:
        if self._conn is None or self._conn.closed:
            import psycopg

            try:
                self._conn = psycopg.connect(self.conninfo, connect_timeout=max(1, int(self.timeout_s)),
                                             autocommit=True)
            except psycopg.Error as exc:
                raise TargetError(f"cannot connect to PostgreSQL ({self.conninfo}): "
                                  f"{str(exc).strip().splitlines()[0]}") from None
            self._statement_sql = self._find_statements() if self.statements else None
        return self._conn

    def _find_statements(self) -> Optional[str]:
        row = self._conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements'").fetchone()
        if row is None:
            return None
        new = self._conn.info.server_version >= 130000
        return _STATEMENTS.format(total="total_exec_time" if new else "total_time",
                                  stddev="stddev_exec_time" if new else "stddev_time")

    def read(self) -> Reading:
        import psycopg

        conn = self._connect()
        own = 1 + bool(self._statement_sql)  # autocommit: one transaction per statement, taken out of the tps
        try:
            if conn.info.server_version >= 150000:  # our own counts reach the view before the next reading
                conn.execute(f"SELECT /* {_TAG} */ pg_stat_force_next_flush()")
                own += 1
            commits, rollbacks, hit, read, counted = conn.execute(_DB, {"dbs": self.databases}).fetchone()
            rows = conn.execute(self._statement_sql, {"dbs": self.databases}).fetchall() \
                if self._statement_sql else []
        except psycopg.Error as exc:
            self.close()
            raise TargetError(f"reading PostgreSQL statistics failed: {str(exc).strip().splitlines()[0]}") from None
        reading: Reading = {"commits": float(commits), "rollbacks": float(rollbacks), "blks_hit": float(hit),
                            "blks_read": float(read), "own_counted": float(own) if counted else 0.0}
        for userid, dbid, queryid, calls, total_ms, stddev_ms in rows:
            calls, total_ms, stddev_ms = float(calls), float(total_ms), float(stddev_ms or 0.0)
            mean = total_ms / calls if calls else 0.0
            key = (userid, dbid, queryid)
            reading[("calls", *key)] = calls
            reading[("total", *key)] = total_ms
            reading[("sumsq", *key)] = calls * (stddev_ms ** 2 + mean ** 2)
        if self._statement_sql:
            reading["statements"] = 1.0
        return reading

    def compute(self, readings: list[Reading], seconds: float) -> dict[str, Optional[float]]:
        def grown(key: Any) -> Optional[float]:
            return wm.increase([r.get(key) for r in readings])

        commits, rollbacks = grown("commits"), grown("rollbacks")
        own = (len(readings) - 1) * readings[-1].get("own_counted", 0.0)
        values: dict[str, Optional[float]] = {
            "throughput": None if commits is None or rollbacks is None
            else max(commits + rollbacks - own, 0.0) / seconds,
            "commits_per_s": None if commits is None else max(commits - own, 0.0) / seconds,
            "rollbacks_per_s": None if rollbacks is None else rollbacks / seconds,
        }
        hit, read = grown("blks_hit"), grown("blks_read")
        values["cache_hit_ratio"] = hit / (hit + read) if hit is not None and read is not None and hit + read else None
        if "statements" in readings[-1]:
            values.update(self._statement_metrics(readings, seconds))
        return values

    @staticmethod
    def _statement_metrics(readings: list[Reading], seconds: float) -> dict[str, Optional[float]]:
        parts, calls_total, time_total = [], 0.0, 0.0
        for key in {k for r in readings for k in r if isinstance(k, tuple) and k[0] == "calls"}:
            calls = wm.increase([r.get(key) for r in readings]) or 0.0
            if calls <= 0:
                continue
            total = wm.increase([r.get(("total", *key[1:])) for r in readings]) or 0.0
            sumsq = wm.increase([r.get(("sumsq", *key[1:])) for r in readings]) or 0.0
            mean = total / calls
            parts.append((calls, mean, math.sqrt(max(sumsq / calls - mean ** 2, 0.0))))
            calls_total += calls
            time_total += total
        return {"latency_avg": time_total / calls_total if calls_total else None,
                "calls_per_s": calls_total / seconds,
                "stmt_time_p95_est_ms": mixture_quantile(0.95, parts)}

    def describe(self) -> dict[str, Any]:
        safe = " ".join(p for p in self.conninfo.split() if not p.startswith("password"))
        return {"source": "postgres", "conninfo": safe}

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
