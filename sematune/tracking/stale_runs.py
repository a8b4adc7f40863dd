"""Close the MLflow run of a process that died (SIGKILL, power loss) without closing it.

While a run's MLflow run is open, ``open_run.json`` in the state dir names it; the file goes
when the run is closed. The next start on the host, or ``python -m sematune.restore``, marks a
run named there KILLED if it is still RUNNING.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Iterable, Optional

log = logging.getLogger(__name__)

MARKER = "open_run.json"


#: Tag that ties an MLflow run to its marker before the run's id is known.
SESSION_TAG = "sematune.session"


def note_open_run(state_dir: str | os.PathLike[str], tracking_uri: str, session: str, run_id: str = "") -> None:
    """Written before the MLflow run is created (``session`` tag), again once its id is known."""
    from sematune.engine.journal import atomic_write_json

    atomic_write_json(Path(state_dir) / MARKER, {"uri": tracking_uri, "session": session, "run_id": run_id})


def close_open_run(state_dir: str | os.PathLike[str]) -> None:
    (Path(state_dir) / MARKER).unlink(missing_ok=True)


def _local_store(uri: str) -> bool:
    return uri.startswith(("sqlite:", "file:")) or "://" not in uri


def mark_killed(recorded: dict, tracking_uri: Optional[str] = None) -> Optional[str]:
    """Mark the recorded MLflow run KILLED if it is still RUNNING; return its id when marked.

    The store is ``tracking_uri`` (the invoking run's or the command line's); the recorded URI
    is used only when it is a local file store, since the state dir is untrusted input.
    """
    run_id, session, uri = recorded.get("run_id"), recorded.get("session"), tracking_uri or recorded.get("uri")
    if not isinstance(uri, str) or (tracking_uri is None and not _local_store(uri)):
        return None
    if tracking_uri is not None and recorded.get("uri") not in (None, tracking_uri):
        return None  # the dead run lived in another store
    try:
        from sematune.tracking.mlflow_tracker import mlflow_client

        client = mlflow_client(uri)
        if not run_id and isinstance(session, str) and session.isalnum():  # died before it learnt the id
            experiments = [e.experiment_id for e in client.search_experiments()]
            found = client.search_runs(experiments, f"tags.`{SESSION_TAG}` = '{session}'", max_results=1)
            run_id = found[0].info.run_id if found else None
        if not isinstance(run_id, str) or not run_id or client.get_run(run_id).info.status != "RUNNING":
            return None
        client.set_tag(run_id, "status", "KILLED")
        client.set_terminated(run_id, status="KILLED")
    except Exception as exc:  # the host is restored; a store we cannot reach is only logged
        log.warning("could not mark the killed MLflow run %s in %s: %s", run_id, uri, exc)
        return None
    log.warning("marked MLflow run %s (left RUNNING by a killed process) as KILLED", run_id)
    return run_id


def mark_open_runs(state_dirs: Iterable[str | os.PathLike[str]], tracking_uri: Optional[str] = None) -> list[str]:
    """Mark every run a dead process left open in ``state_dirs``; the caller holds the host lock."""
    marked = []
    for state_dir in state_dirs:
        path = Path(state_dir) / MARKER
        try:
            recorded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(recorded, dict) and (run_id := mark_killed(recorded, tracking_uri)):
            marked.append(run_id)
        path.unlink(missing_ok=True)
    return marked
