"""Close the MLflow run of a process that died (SIGKILL, power loss) without closing it."""

from __future__ import annotations

import logging
from typing import Any, Mapping, Optional

log = logging.getLogger(__name__)


def _local_store(uri: str) -> bool:
    return uri.startswith(("sqlite:", "file:")) or "://" not in uri


def mark_killed(journal: Mapping[str, Any], tracking_uri: Optional[str] = None) -> Optional[str]:
    """Mark the journal's MLflow run KILLED if it is still RUNNING; return its id when marked.

    The store is ``tracking_uri`` (the invoking run's or the command line's); the journal's own
    URI is used only when it is a local file store, since a journal is untrusted input.
    """
    recorded = journal.get("tracking") or {}
    run_id, uri = recorded.get("run_id"), tracking_uri or recorded.get("uri")
    if not run_id or not uri or (tracking_uri is None and not _local_store(uri)):
        return None
    if tracking_uri is not None and recorded.get("uri") not in (None, tracking_uri):
        return None  # the dead run lived in another store
    try:
        from sematune.tracking.mlflow_tracker import mlflow_client

        client = mlflow_client(uri)
        if client.get_run(run_id).info.status != "RUNNING":
            return None
        client.set_tag(run_id, "status", "KILLED")
        client.set_terminated(run_id, status="KILLED")
    except Exception as exc:  # the host is restored; a store we cannot reach is only logged
        log.warning("could not mark the killed MLflow run %s in %s: %s", run_id, uri, exc)
        return None
    log.warning("marked MLflow run %s (left RUNNING by a killed process) as KILLED", run_id)
    return run_id
