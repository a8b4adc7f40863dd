"""Parsers for pgbench's summary (stdout) and its per-transaction log (``-l``).

The summary gives exact counts and the average latency; the log (one line per transaction:
``client txn latency_us script epoch_s epoch_us [lag_us] [retries]``, the latency being a
word such as ``failed`` for a failed transaction) gives percentiles and per-script counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

_NUM = r"([0-9]+(?:\.[0-9]+)?)"
_SUMMARY = {
    "processed": re.compile(r"^number of transactions actually processed: (\d+)", re.M),
    "failed": re.compile(r"^number of failed transactions: (\d+)", re.M),
    "retried": re.compile(r"^number of transactions retried: (\d+)", re.M),
    "retries": re.compile(r"^total number of retries: (\d+)", re.M),
    "latency_avg_ms": re.compile(rf"^latency average = {_NUM} ms", re.M),
    "latency_stddev_ms": re.compile(rf"^latency stddev = {_NUM} ms", re.M),
    "tps": re.compile(rf"^tps = {_NUM} \(without initial connection time\)", re.M),
    "duration_s": re.compile(rf"^duration: {_NUM} s", re.M),
    "clients": re.compile(r"^number of clients: (\d+)", re.M),
}


@dataclass
class PgbenchSummary:
    """What pgbench printed on stdout; a value it did not print is None."""

    processed: Optional[int] = None
    failed: Optional[int] = None
    retried: Optional[int] = None
    retries: Optional[int] = None
    latency_avg_ms: Optional[float] = None
    latency_stddev_ms: Optional[float] = None
    tps: Optional[float] = None
    duration_s: Optional[float] = None
    clients: Optional[int] = None
    aborted: bool = False


def parse_summary(stdout: str, stderr: str = "") -> PgbenchSummary:
    """Parse pgbench's end-of-run report (missing lines stay None)."""
    summary = PgbenchSummary()
    for name, pattern in _SUMMARY.items():
        match = pattern.search(stdout)
        if match:
            value: float | int = float(match.group(1))
            if name in ("processed", "failed", "retried", "retries", "clients"):
                value = int(match.group(1))
            setattr(summary, name, value)
    summary.aborted = "Run was aborted" in stderr or "Run was aborted" in stdout
    return summary


@dataclass
class TransactionLog:
    """Per-transaction samples from pgbench ``-l`` logs (all threads merged)."""

    latency_ms: np.ndarray = field(default_factory=lambda: np.empty(0))
    failed: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=bool))
    script: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    end_s: np.ndarray = field(default_factory=lambda: np.empty(0))
    retries: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    malformed_lines: int = 0

    def __len__(self) -> int:
        return int(self.latency_ms.size)


def log_files(directory: Path, prefix: str) -> list[Path]:
    """pgbench writes ``<prefix>.<pid>`` for thread 0 and ``<prefix>.<pid>.<n>`` for the others."""
    pattern = re.compile(rf"{re.escape(prefix)}\.\d+(\.\d+)?")
    return sorted(p for p in Path(directory).glob(f"{prefix}.*") if pattern.fullmatch(p.name))


def read_transaction_log(paths: Iterable[Path], *, with_retries: bool = False) -> TransactionLog:
    """Merge per-thread logs. ``with_retries``: pgbench ran with ``--max-tries`` != 1 (last column)."""
    rows: list[list[str]] = []
    malformed = 0
    for path in paths:
        for line in Path(path).read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) < 6 or not parts[3].isdigit():
                malformed += 1 if parts else 0
                continue
            rows.append(parts)
    if not rows:
        return TransactionLog(malformed_lines=malformed)
    width = min(len(r) for r in rows)
    table = np.array([r[:width] for r in rows], dtype=str)
    lat_words = table[:, 2]
    failed = ~np.char.isdigit(lat_words)
    latency_us = np.where(failed, "nan", lat_words).astype(float)
    end_s = table[:, 4].astype(float) + table[:, 5].astype(float) / 1e6
    retries = (table[:, width - 1].astype(np.int64) if with_retries and width >= 7
               else np.zeros(len(rows), dtype=np.int64))
    return TransactionLog(
        latency_ms=latency_us / 1000.0,
        failed=failed,
        script=table[:, 3].astype(np.int64),
        end_s=end_s,
        retries=retries,
        malformed_lines=malformed,
    )
