"""The pgbench backend for TPC-C: the same stored functions, driven by weighted pgbench scripts.

One pgbench run per window (``-T``). Counts and per-type percentiles come from pgbench's
per-transaction log; committed New-Orders from the growth of ``sum(d_next_o_id)`` over the
window (a rolled-back New-Order does not advance it), so rollbacks are exact too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from sematune.errors import TargetError
from sematune.targets.postgres.latency import latency_stats
from sematune.targets.postgres.pgbench_output import log_files, parse_summary, read_transaction_log
from sematune.targets.tpcc._driver import TX_TYPES

LOG_PREFIX = "tx"
COUNTERS_FILE = "counters.json"
_CALLS = {
    "new_order": "SELECT tpcc_new_order(:w, :nw);",
    "payment": "SELECT tpcc_payment(:w, :nw);",
    "order_status": "SELECT tpcc_order_status(:w);",
    "delivery": "SELECT tpcc_delivery(:w);",
    "stock_level": "\\set d random(1, 10)\nSELECT tpcc_stock_level(:w, :d);",
}


def write_scripts(directory: Path) -> dict[str, Path]:
    """One pgbench script per transaction type (home warehouse uniform over ``:nw``)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in TX_TYPES:
        path = directory / f"{name}.sql"
        path.write_text(f"\\set w random(1, :nw)\n{_CALLS[name]}\n", encoding="utf-8")
        paths[name] = path
    return paths


def pgbench_command(
    pgbench: str,
    client_args: Sequence[str],
    scripts: Mapping[str, Path],
    mix: Mapping[str, int],
    *,
    warehouses: int,
    clients: int,
    threads: int,
    duration_s: int,
    max_tries: int,
    rate: Optional[float] = None,
) -> tuple[list[str], list[str]]:
    """The pgbench argv and the transaction type of each script number (weight-0 types left out)."""
    order = [name for name in TX_TYPES if mix.get(name, 0) > 0]
    cmd = [pgbench, "-n", "-M", "prepared", "-c", str(clients), "-j", str(threads), "-T", str(duration_s),
           "-D", f"nw={warehouses}", f"--max-tries={max_tries}", "-l", f"--log-prefix={LOG_PREFIX}"]
    if rate:
        cmd += ["-R", f"{rate:g}"]
    for name in order:
        cmd += ["-f", f"{scripts[name]}@{int(mix[name])}"]
    return [*cmd, *client_args], order


def write_counters(output_dir: Path, before: int, after: int, order: Sequence[str], max_tries: int) -> None:
    (output_dir / COUNTERS_FILE).write_text(
        json.dumps({"next_o_id_before": before, "next_o_id_after": after, "scripts": list(order),
                    "max_tries": max_tries}), encoding="utf-8")


def summarize_pgbench(output_dir: str | Path, stdout: str, stderr: str) -> dict[str, Any]:
    """The TPC-C window summary from pgbench's report, its log and the New-Order counter."""
    out = Path(output_dir)
    try:
        counters = json.loads((out / COUNTERS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TargetError(f"missing {out / COUNTERS_FILE}: {exc}") from exc
    report = parse_summary(stdout, stderr)
    if report.aborted:
        raise TargetError(f"pgbench aborted clients; see {out}: {stderr.strip()[-400:]}")
    if report.duration_s is None:
        raise TargetError(f"pgbench printed no report in {out}: {stderr.strip()[-400:]}")
    txlog = read_transaction_log(log_files(out, LOG_PREFIX), with_retries=int(counters["max_tries"]) != 1)
    if report.processed is not None and report.processed > 0 and len(txlog) == 0:
        raise TargetError(f"pgbench's per-transaction log ({LOG_PREFIX}.*) is missing in {out}")
    committed_no = int(counters["next_o_id_after"]) - int(counters["next_o_id_before"])
    types: dict[str, Any] = {}
    for index, name in enumerate(counters["scripts"]):
        mine = txlog.script == index
        ok = mine & ~txlog.failed
        processed = int(ok.sum())
        entry = {"commit": processed, "rollback": 0, "error": int((mine & txlog.failed).sum()),
                 "retries": int(txlog.retries[mine].sum()), "latency_ms": latency_stats(txlog.latency_ms[ok])}
        if name == "new_order":
            entry["commit"] = max(0, min(committed_no, processed))
            entry["rollback"] = processed - entry["commit"]
        types[name] = entry
    done = ~txlog.failed
    return {"duration_s": float(report.duration_s), "types": types,
            "latency_ms": latency_stats(txlog.latency_ms[done] if len(txlog) else np.empty(0)),
            "pgbench_tps": report.tps}
