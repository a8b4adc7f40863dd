"""Hydra callbacks of a sweep (``-m``): a guard against unsafe parallel launches, and one MLflow
parent run whose jobs nest under it and which gets the comparison report at the end."""

from __future__ import annotations

import atexit
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Optional

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from sematune.errors import ConfigError
from sematune.sweep_failures import note_failed
from sematune.tracking.mlflow_tracker import PARENT_ENV, PARENT_FILE, MlflowTracker
from sematune.tracking.redact import install_log_redaction, redact_overrides
from sematune.tracking.sweep_runs import (
    FINISHED,
    JOB_KEY_TAG,
    SWEEP_KEY_TAG,
    SWEEP_NAME_TAG,
    SWEEP_OVERRIDES_TAG,
    TRACKING_URI_FILE,
    child_runs,
    close_orphans,
    sweep_key,
    with_sweeper_params,
)

log = logging.getLogger(__name__)


def _raw(config: DictConfig, key: str) -> Any:
    """A config value without resolving interpolations (``${hydra:job.num}`` stays as text)."""
    data: Any = OmegaConf.to_container(config, resolve=False)
    for part in key.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _task_overrides(config: DictConfig) -> list[str]:
    """The sweep's overrides as typed (``${hydra:job.num}`` cannot resolve before a job exists),
    with the grid of ``hydra.sweeper.params`` (an experiment preset's)."""
    task = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)
    params = (config.hydra.get("sweeper") or {}).get("params")
    grid = OmegaConf.to_container(params, resolve=False) if isinstance(params, DictConfig) else None
    return with_sweeper_params(task, grid)  # type: ignore[arg-type]


def check_parallel_launch(config: DictConfig) -> None:
    """Refuse a joblib sweep with ``n_jobs != 1`` whose jobs would share one host's knobs.

    Knobs are host-global: parallel jobs are only safe when each has its own ``host_root``
    sandbox and its own journal/lock directory (``host.state_dir``), e.g.
    ``host_root=/tmp/st/h${hydra:job.num} host.state_dir=/tmp/st/s${hydra:job.num}``.
    """
    launcher = config.hydra.get("launcher") or {}
    if "JoblibLauncher" not in str(launcher.get("_target_", "")) or launcher.get("n_jobs", 1) == 1:
        return
    task = _task_overrides(config)
    swept = {o.split("=", 1)[0].lstrip("+~") for o in task if "," in o.split("=", 1)[-1]}
    root = str(_raw(config, "host_root") or "/")
    state = _raw(config, "host.state_dir")
    per_job_root = "${" in root or "host_root" in swept
    fix = ("set hydra.launcher.n_jobs=1, give every job its own sandbox and state dir "
           "('host_root=/tmp/st/h${hydra:job.num}' 'host.state_dir=/tmp/st/s${hydra:job.num}', each made with "
           "`python -m sematune.osparams.sandbox`), or use a launcher that puts one job per host "
           "(hydra/launcher=submitit_slurm or ray)")
    if root == "/" and not per_job_root:
        raise ConfigError("hydra.launcher.n_jobs", "joblib would run several jobs at once on the real host "
                          f"(host_root=/), where knobs are host-global and the host lock admits one run; {fix}")
    if not per_job_root:
        raise ConfigError("hydra.launcher.n_jobs", f"parallel joblib jobs would share the sandbox {root} and its "
                          f"lock; {fix}")
    shared_state = state is None and os.environ.get("SEMATUNE_STATE_DIR")
    if shared_state or (state is not None and "${" not in str(state) and "host.state_dir" not in swept):
        raise ConfigError("hydra.launcher.n_jobs", "parallel joblib jobs would share one journal/lock directory "
                          f"({state or shared_state}); {fix}")
    target = str((config.get("target") or {}).get("_target_", ""))
    if not target.endswith("SyntheticTarget"):
        log.warning("joblib runs %s jobs at once on one machine: real workloads then compete for its CPUs and "
                    "their measurements interfere (meaningful only for the synthetic target)", launcher.get("n_jobs"))


class ParallelLaunchGuard(Callback):
    """Stops a multirun before any job starts when its launcher would share one host's knobs.

    Hydra turns a callback's exception into a warning, so the refusal is a ``SystemExit(2)``.
    """

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        install_log_redaction()  # before the launcher logs each job's overrides
        try:
            check_parallel_launch(config)
        except ConfigError as exc:
            print(f"config error: {exc}", file=sys.stderr)
            raise SystemExit(exc.exit_code) from None


class MlflowSweepCallback(Callback):
    """Creates (or, with ``resume=true``, reopens) the parent run on ``on_multirun_start``; at the
    end builds the comparison report, prints it, logs it to the parent run and closes it.

    The parent run id reaches the jobs through ``$SEMATUNE_MLFLOW_PARENT_RUN_ID`` (inherited by
    local and joblib workers) and through ``<sweep dir>/mlflow_parent_run_id`` (for launchers
    that start jobs elsewhere on a shared filesystem). Hydra skips ``on_multirun_end`` when the
    sweep itself aborts (an exception, Ctrl-C between jobs), so the closing step is also
    registered with :mod:`atexit` and then marks the parent run FAILED.
    """

    def __init__(self) -> None:
        self.tracker: Optional[MlflowTracker] = None
        self.run_id: Optional[str] = None
        self.sweep_dir: Optional[Path] = None
        self._open = False

    @staticmethod
    def _enabled(config: DictConfig) -> bool:
        tracking = config.get("tracking")
        return bool(tracking is not None and tracking.get("enabled", True))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from sematune.tracking.resume import check_sweep_name, find_parent, reopen_parent

        try:
            name = check_sweep_name(config.get("sweep_name"))
        except ConfigError as exc:  # Hydra would turn an exception into a warning and run the jobs
            print(f"config error: {exc}", file=sys.stderr)
            raise SystemExit(exc.exit_code) from None
        self.sweep_dir = Path(str(config.hydra.sweep.dir))
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        self._open = True
        atexit.register(self._close, "FAILED")
        if not self._enabled(config):
            return
        tracking = config.tracking
        self.tracker = MlflowTracker(tracking.tracking_uri, tracking.experiment, async_logging=False)
        client = self.tracker.client
        experiment_id = self.tracker.experiment_id()
        overrides = _task_overrides(config)
        key = sweep_key(overrides)
        tags = {
            "sematune.kind": "sweep",
            "sweep_dir": str(self.sweep_dir.resolve()),
            "overrides": " ".join(redact_overrides(overrides))[:5000],
            SWEEP_OVERRIDES_TAG: json.dumps(redact_overrides(overrides))[:5000],
            SWEEP_KEY_TAG: key,
        }
        if name:
            tags[SWEEP_NAME_TAG] = name
        earlier = find_parent(client, experiment_id, sweep_name=name, sweep_key=key) if config.get("resume") else None
        if earlier is not None:
            self.run_id = earlier.info.run_id
            done = reopen_parent(client, earlier)
            for k, v in tags.items():
                client.set_tag(self.run_id, k, v)
            log.info("resume: reusing sweep parent run %s; %d finished job(s) will be skipped", self.run_id, done)
        else:
            if config.get("resume"):
                log.warning("resume: no earlier sweep %s in experiment %r; starting a new one (to resume a sweep, "
                            "rerun the same command, or give both runs the same sweep_name)",
                            f"named {name!r}" if name else "with these overrides", tracking.experiment)
            run = client.create_run(experiment_id, run_name=f"sweep {name or self.sweep_dir.name}", tags=tags)
            self.run_id = run.info.run_id
        os.environ[PARENT_ENV] = self.run_id
        (self.sweep_dir / PARENT_FILE).write_text(self.run_id + "\n", encoding="utf-8")
        (self.sweep_dir / TRACKING_URI_FILE).write_text(self.tracker.tracking_uri + "\n", encoding="utf-8")
        log.info("MLflow sweep parent run %s (%s)", self.run_id, self.tracker.tracking_uri)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._close(None)

    def _close(self, status: Optional[str]) -> None:
        """Report, then terminate the parent run (``status`` forces FAILED when Hydra aborted)."""
        if not self._open or self.sweep_dir is None:
            return
        self._open = False
        atexit.unregister(self._close)
        if status is None and self.tracker is not None and self.run_id is not None:
            try:  # every job has ended: a run still open belongs to a job whose process died
                close_orphans(self.tracker.client, self.tracker.experiment_id(), self.run_id, "FAILED",
                              "its job ended without closing it (the process or its node died)")
            except Exception as exc:
                log.error("checking the sweep's job runs failed: %s", exc)
        jobs = None
        try:
            from sematune.report import make_report

            client = self.tracker.client if self.tracker is not None else None
            _, runs, out, _ = make_report(self.sweep_dir, files_only=client is None, client=client)
            jobs = runs.jobs
            log.info("sweep report: %s", out / "report.html")
        except Exception as exc:  # the report must never cost the sweep its parent run
            log.exception("building the sweep report failed: %s", exc)
        if self.tracker is None or self.run_id is None:
            return
        client = self.tracker.client
        try:
            # job key → status of its latest run (a resumed sweep holds a job's earlier runs too)
            if jobs is not None:
                outcomes = {j.key: j.status for j in jobs}
            else:  # no report: the child runs, oldest first so that a job's latest run wins
                children = child_runs(client, self.tracker.experiment_id(), self.run_id)
                outcomes = {r.data.tags.get(JOB_KEY_TAG) or r.info.run_id: r.info.status
                            for r in sorted(children, key=lambda r: r.info.start_time or 0)}
            failed = [key for key, job_status in outcomes.items() if job_status not in (FINISHED, "SKIPPED")]
            for key in failed:  # the exit code counts jobs that ran elsewhere (joblib, SLURM, Ray) too
                note_failed(key, 1)
            client.set_tag(self.run_id, "jobs", str(len(outcomes)))
            client.set_tag(self.run_id, "jobs_failed", str(len(failed)))
            final = status or ("FAILED" if failed or not outcomes else FINISHED)
            client.set_terminated(self.run_id, status=final)
        except Exception as exc:
            log.error("closing the sweep parent run %s failed: %s", self.run_id, exc)
        finally:
            os.environ.pop(PARENT_ENV, None)
