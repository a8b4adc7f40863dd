"""Hydra callback: a sweep (``-m``) gets one MLflow parent run; its jobs nest under it."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from sematune.tracking.mlflow_tracker import PARENT_ENV, PARENT_FILE, MlflowTracker

log = logging.getLogger(__name__)


class MlflowSweepCallback(Callback):
    """Creates the parent run on ``on_multirun_start`` and closes it on ``on_multirun_end``.

    The parent run id reaches the jobs through ``$SEMATUNE_MLFLOW_PARENT_RUN_ID`` (inherited by
    local and joblib workers) and through ``<sweep dir>/mlflow_parent_run_id`` (for launchers
    that start jobs elsewhere on a shared filesystem).
    """

    def __init__(self) -> None:
        self.tracker: MlflowTracker | None = None
        self.run_id: str | None = None

    @staticmethod
    def _enabled(config: DictConfig) -> bool:
        tracking = config.get("tracking")
        return bool(tracking is not None and tracking.get("enabled", True))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not self._enabled(config):
            return
        sweep_dir = Path(str(config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        tracking = config.tracking
        self.tracker = MlflowTracker(tracking.tracking_uri, tracking.experiment, async_logging=False, parent_run_id="")
        self.tracker.parent_run_id = None
        overrides = list(config.hydra.overrides.task)
        client = self.tracker.client
        run = client.create_run(
            self.tracker.experiment_id(),
            run_name=f"sweep {sweep_dir.name}",
            tags={
                "sematune.kind": "sweep",
                "sweep_dir": str(sweep_dir.resolve()),
                "overrides": " ".join(overrides)[:5000],
            },
        )
        self.run_id = run.info.run_id
        os.environ[PARENT_ENV] = self.run_id
        (sweep_dir / PARENT_FILE).write_text(self.run_id + "\n", encoding="utf-8")
        log.info("MLflow sweep parent run %s (%s)", self.run_id, self.tracker.tracking_uri)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.tracker is None or self.run_id is None:
            return
        client = self.tracker.client
        children = client.search_runs(
            [self.tracker.experiment_id()], filter_string=f"tags.mlflow.parentRunId = '{self.run_id}'"
        )
        failed = [r for r in children if r.info.status != "FINISHED"]
        client.set_tag(self.run_id, "jobs", str(len(children)))
        client.set_tag(self.run_id, "jobs_failed", str(len(failed)))
        client.set_terminated(self.run_id, status="FAILED" if failed or not children else "FINISHED")
        os.environ.pop(PARENT_ENV, None)
