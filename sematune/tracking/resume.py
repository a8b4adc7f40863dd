"""``resume=true``: rerun a sweep into its earlier MLflow parent run, skipping finished jobs.

A rerun finds the earlier sweep's parent run in the same experiment by ``sweep_name`` when one
is set (tag ``sematune.sweep_name``; the grid may then change: new jobs run, finished ones are
skipped), else by the sweep's identity (tag ``sematune.sweep_key``: the set of its jobs' keys, so
the same command with ``resume=true`` added matches). A job is skipped when that parent already
has a FINISHED child with the same job key (``sematune.job_key``); failed, killed or missing
jobs run again under the same parent.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from sematune.errors import ConfigError
from sematune.tracking.sweep_runs import (
    FINISHED,
    JOB_KEY_TAG,
    SKIPPED_FILE,
    SWEEP_KEY_TAG,
    SWEEP_NAME_TAG,
    close_orphans,
    job_key,
)

log = logging.getLogger(__name__)


def check_sweep_name(name: Optional[str]) -> Optional[str]:
    """``sweep_name`` must be safe inside an MLflow filter string."""
    if name is None or name == "":
        return None
    name = str(name)
    if "'" in name or "\\" in name or len(name) > 200:
        raise ConfigError("sweep_name", f"must be at most 200 characters without quotes or backslashes, got {name!r}")
    return name


def find_parent(client: Any, experiment_id: str, *, sweep_name: Optional[str], sweep_key: str) -> Optional[Any]:
    """The latest earlier sweep parent run with this name (or, without a name, this identity)."""
    tag, value = (SWEEP_NAME_TAG, sweep_name) if sweep_name else (SWEEP_KEY_TAG, sweep_key)
    found = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`sematune.kind` = 'sweep' and tags.`{tag}` = '{value}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return found[0] if found else None


def reopen_parent(client: Any, parent: Any) -> int:
    """Mark a parent run RUNNING again and its orphaned RUNNING children KILLED; return FINISHED jobs."""
    run_id = parent.info.run_id
    client.update_run(run_id, status="RUNNING")
    children = close_orphans(client, parent.info.experiment_id, run_id, "KILLED",
                             "left RUNNING by the earlier sweep (its process died); found on resume")
    return len({c.data.tags.get(JOB_KEY_TAG) for c in children if c.info.status == FINISHED} - {None})


def finished_run(client: Any, experiment_id: str, parent_run_id: str, key: str) -> Optional[Any]:
    """A FINISHED child of ``parent_run_id`` with job key ``key``, if any."""
    found = client.search_runs(
        [experiment_id],
        filter_string=(f"tags.mlflow.parentRunId = '{parent_run_id}' and tags.`{JOB_KEY_TAG}` = '{key}' "
                       f"and attributes.status = '{FINISHED}'"),
        max_results=1,
    )
    return found[0] if found else None


def skip_finished_job(
    tracking_uri: str, parent_run_id: Optional[str], overrides: Sequence[str], run_dir: str | os.PathLike[str]
) -> Optional[str]:
    """If this job already finished under the sweep's parent run, note it in ``run_dir`` and
    return that run's id (the caller then skips the job); else ``None``."""
    if not parent_run_id:
        log.warning("resume: no sweep parent run is known (is tracking enabled?); running the job")
        return None
    from sematune.tracking.mlflow_tracker import mlflow_client, quiet_mlflow_logs

    quiet_mlflow_logs()
    client = mlflow_client(tracking_uri)
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    key = job_key(overrides)
    done = finished_run(client, experiment_id, parent_run_id, key)
    if done is None:
        return None
    path = Path(run_dir)
    path.mkdir(parents=True, exist_ok=True)
    (path / SKIPPED_FILE).write_text(json.dumps({
        "run_id": done.info.run_id, "job_key": key, "parent_run_id": parent_run_id,
        "overrides": list(overrides), "skipped_at": time.time(),
    }, indent=1), encoding="utf-8")
    log.info("resume: this job already finished in MLflow run %s; skipped", done.info.run_id)
    return done.info.run_id
