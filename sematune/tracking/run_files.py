"""A recorded run's files, from its run directory or, by MLflow run id, from its artifacts."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Optional

from sematune.tracking.mlflow_tracker import mlflow_client

RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def run_file(ref: str, name: str, tracking_uri: Optional[str]) -> Path:
    """``name`` (``history.jsonl``, ``summary.json``…) of the run ``ref``: a run directory or an MLflow run id.

    Raises ``FileNotFoundError`` with a message that says what was tried.
    """
    path = Path(os.path.expanduser(str(ref)))
    if path.is_dir():
        found = path / name
        if found.is_file():
            return found
        raise FileNotFoundError(f"{found} does not exist (is {ref} a SemaTune run directory?)")
    if not RUN_ID.match(str(ref)):
        raise FileNotFoundError(f"{ref!r} is neither a run directory nor an MLflow run id (32 hex digits)")
    if not tracking_uri:
        raise FileNotFoundError(f"run id {ref} needs a tracking URI (tracking.tracking_uri)")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        local = mlflow_client(tracking_uri).download_artifacts(ref, name, tempfile.mkdtemp(prefix="sematune-run-"))
    except Exception as exc:  # unknown run, missing artifact, unreachable store
        raise FileNotFoundError(f"MLflow run {ref} at {tracking_uri}: no {name} ({type(exc).__name__}: "
                                f"{' '.join(str(exc).split())[:200]})") from None
    return Path(local)
