"""Server background work counted over a window: checkpoints and autovacuum/autoanalyze runs.

A checkpoint (its full-page-write burst afterwards) or an autovacuum of a big table landing in
some windows and not others is a main source of window-to-window noise; recording the counts
per window lets a reader attribute a slow window (``server_checkpoints``/``server_autovacuums``
in the window's metrics).
"""

from __future__ import annotations

from typing import Any, Mapping

#: PostgreSQL 17 moved checkpoint counters from pg_stat_bgwriter to pg_stat_checkpointer.
_CHECKPOINTS_17 = "SELECT num_timed + num_requested FROM pg_stat_checkpointer"
_CHECKPOINTS_OLD = "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"
_AUTOVACUUMS = "SELECT coalesce(sum(autovacuum_count + autoanalyze_count), 0) FROM pg_stat_user_tables"


def server_counters(conn: Any, major: int) -> dict[str, int]:
    """Cumulative checkpoints (cluster) and autovacuum+autoanalyze runs (``conn``'s database)."""
    conn.execute("SELECT pg_stat_clear_snapshot()")
    checkpoints = conn.execute(_CHECKPOINTS_17 if major >= 17 else _CHECKPOINTS_OLD).fetchone()[0]
    autovacuums = conn.execute(_AUTOVACUUMS).fetchone()[0]
    return {"checkpoints": int(checkpoints), "autovacuums": int(autovacuums)}


def counter_delta(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """What happened between two :func:`server_counters` readings."""
    return {key: int(after[key]) - int(before.get(key, 0)) for key in after}
