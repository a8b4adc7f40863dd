"""Redis preset: ``INFO all`` deltas of the user's own server (connection settings only).

``throughput`` = commands per second (``total_commands_processed``, SemaTune's own INFO calls
taken out), ``latency_avg`` = server-side mean time per command (``commandstats``, ms),
``service/hit_ratio``, ``service/connected_clients``, and per command in ``commands``
``service/<cmd>_p50_ms``/``_p99_ms``/``_p99.9_ms`` from ``latencystats`` (Redis ≥ 7). Redis keeps
those percentiles since its last ``CONFIG RESETSTAT``; ``reset_stats: true`` resets the server's
statistics at each window start so that they are per window (and clears the INFO counters every
other observer of that server sees).
"""

from __future__ import annotations

import socket
from typing import Any, Optional, Sequence

from sematune.errors import TargetError
from sematune.targets.service import _window_math as wm
from sematune.targets.service._source import MetricSource, Reading

_OWN_COMMANDS = ("info", "auth", "config|resetstat", "config")


def _command(*args: str) -> bytes:
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def parse_info(text: str) -> Reading:
    """``INFO`` text → flat numbers: ``key`` for plain fields, ``key.sub`` for ``a=1,b=2`` fields."""
    out: Reading = {}
    for line in text.splitlines():
        if not line or line.startswith("#") or ":" not in line:
            continue
        key, _, value = line.partition(":")
        try:
            out[key] = float(value)
            continue
        except ValueError:
            pass
        for part in value.split(","):
            sub, eq, num = part.partition("=")
            if eq:
                try:
                    out[f"{key}.{sub}"] = float(num)
                except ValueError:
                    continue
    return out


class RedisSource(MetricSource):
    """Reads ``INFO all`` over one connection to ``host:port``."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 6379, username: Optional[str] = None,
                 password: Optional[str] = None, commands: Sequence[str] = ("get", "set"),
                 reset_stats: bool = False, timeout_s: float = 5.0, sample_interval_s: float = 1.0) -> None:
        if not 0 < int(port) < 65536:
            raise ValueError(f"port must be 1..65535, got {port}")
        self.host, self.port = host, int(port)
        self.username, self.password = username, password
        self.commands = [c.lower() for c in commands]
        self.reset_stats = reset_stats
        self.timeout_s = timeout_s
        self.sample_interval_s = sample_interval_s
        self._sock: Optional[socket.socket] = None
        self._buffer = b""

    # -- a minimal RESP client ------------------------------------------------------------------
    def _call(self, *args: str) -> str:
        try:
            if self._sock is None:
                self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
                self._buffer = b""
                if self.password:
                    auth = (self.username, self.password) if self.username else (self.password,)
                    self._sock.sendall(_command("AUTH", *auth))
                    self._reply()
            self._sock.sendall(_command(*args))
            return self._reply()
        except OSError as exc:
            self.close()
            raise TargetError(f"cannot read Redis at {self.host}:{self.port}: {exc}") from None

    def _line(self) -> bytes:
        assert self._sock is not None
        while b"\r\n" not in self._buffer:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise OSError("connection closed")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line

    def _reply(self) -> str:
        line = self._line()
        if line.startswith(b"-"):
            self.close()
            raise TargetError(f"Redis at {self.host}:{self.port} answered: {line[1:].decode(errors='replace')}")
        if line.startswith(b"$"):
            size = int(line[1:])
            assert self._sock is not None
            while len(self._buffer) < size + 2:
                chunk = self._sock.recv(65536)
                if not chunk:
                    raise OSError("connection closed")
                self._buffer += chunk
            data, self._buffer = self._buffer[:size], self._buffer[size + 2:]
            return data.decode("utf-8", errors="replace")
        return line[1:].decode(errors="replace")

    # -- the source -----------------------------------------------------------------------------
    def start_window(self) -> None:
        if self.reset_stats:
            self._call("CONFIG", "RESETSTAT")

    def read(self) -> Reading:
        return parse_info(self._call("INFO", "all"))

    def compute(self, readings: list[Reading], seconds: float) -> dict[str, Optional[float]]:
        series = {key: [r.get(key) for r in readings] for key in {k for r in readings for k in r}}
        values: dict[str, Optional[float]] = {}
        total = wm.increase(series.get("total_commands_processed", []))
        own = len(readings) - 1  # each INFO is counted after it answered
        values["throughput"] = None if total is None else max(total - own, 0.0) / seconds
        calls = usec = 0.0
        for key in series:  # a command's line appears at its first call: absent before means 0
            if key.startswith("cmdstat_") and key.endswith(".calls") and key[8:-6] not in _OWN_COMMANDS:
                calls += wm.increase([r.get(key, 0.0) for r in readings]) or 0.0
                usec += wm.increase([r.get(key[:-6] + ".usec", 0.0) for r in readings]) or 0.0
        values["latency_avg"] = usec / calls / 1000.0 if calls else None
        hits = wm.increase(series.get("keyspace_hits", []))
        misses = wm.increase(series.get("keyspace_misses", []))
        lookups = (hits or 0.0) + (misses or 0.0)
        values["hit_ratio"] = hits / lookups if hits is not None and misses is not None and lookups else None
        values["connected_clients"] = wm.gauge(series.get("connected_clients", []), "mean")
        for command in self.commands:
            for pct in ("p50", "p99", "p99.9"):
                last = wm.gauge(series.get(f"latency_percentiles_usec_{command}.{pct}", []), "last")
                values[f"{command}_{pct}_ms"] = None if last is None else last / 1000.0
        return values

    def describe(self) -> dict[str, Any]:
        return {"source": "redis", "server": f"{self.host}:{self.port}"}

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
