"""Entry point: compose the config → instantiate → run the session → exit code.

Exit codes: 0 success, 2 bad configuration (nothing was written), 1 any other failure (the
host is restored in every case).
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.sematune_launchers._jobs import quiet_preset_schema_warning
from sematune.components import build_components
from sematune.engine.session import RunSession
from sematune.errors import ConfigError, SemaTuneError
from sematune.sweep_failures import failed_jobs, note_failed
from sematune.tracking.closing import closing_block
from sematune.tracking.mlflow_tracker import PARENT_ENV, PARENT_FILE, MlflowTracker
from sematune.tracking.recorder import RunRecorder
from sematune.tracking.redact import (install_log_redaction, redact, redact_hydra_files, redact_overrides,
                                      register_override_secrets)
from sematune.tracking.run_info import run_params, run_tags
from sematune.tracking.store_check import check_tracking_store
from sematune.tracking.sweep_runs import job_key, job_tags

log = logging.getLogger("sematune")


class _EntryState:
    task_started = False


def _parent_run_id(cfg: DictConfig) -> str | None:
    if os.environ.get(PARENT_ENV):
        return os.environ[PARENT_ENV]
    marker = Path(str(HydraConfig.get().sweep.dir)) / PARENT_FILE
    return marker.read_text().strip() if marker.exists() else None


def _skip_finished(cfg: DictConfig) -> bool:
    """``resume=true`` in a sweep: skip a job that already FINISHED under the sweep's parent run."""
    hydra_cfg = HydraConfig.get()
    if not cfg.get("resume") or hydra_cfg.mode != RunMode.MULTIRUN or not cfg.tracking.get("enabled", True):
        return False
    from sematune.tracking.resume import skip_finished_job

    try:
        return skip_finished_job(cfg.tracking.tracking_uri, _parent_run_id(cfg), list(hydra_cfg.overrides.task),
                                 hydra_cfg.runtime.output_dir) is not None
    except Exception as exc:
        log.warning("resume: cannot check MLflow for this job (%s); running it", exc)
        return False


def _scheduler_tags(hydra_cfg: Any) -> dict[str, str]:
    """``scheduler.job_id``: the SLURM job id or Ray task id a remote launcher gave this job."""
    num, job_id = str(hydra_cfg.job.get("num", 0)), str(hydra_cfg.job.get("id") or "")
    if hydra_cfg.mode != RunMode.MULTIRUN or job_id in ("", num, f"job_id_for_{num}"):
        return {}
    return {"scheduler.job_id": job_id}


def _redact_hydra_records() -> None:
    """Hydra wrote ``.hydra/*.yaml`` (and a sweep's ``multirun.yaml``) before the task: mask secrets there."""
    hydra_cfg = HydraConfig.get()
    files = []
    if hydra_cfg.output_subdir is not None:
        files += sorted((Path(hydra_cfg.runtime.output_dir) / str(hydra_cfg.output_subdir)).glob("*.yaml"))
    if hydra_cfg.mode == RunMode.MULTIRUN:
        files.append(Path(str(hydra_cfg.sweep.dir)) / "multirun.yaml")
    overrides = OmegaConf.to_container(hydra_cfg.overrides.task, resolve=False)  # as typed: `${oc.env:…}` unresolved
    redact_hydra_files(files, [str(o) for o in overrides])


def run(cfg: DictConfig) -> int:
    """Run one tuning run from a composed config; return the exit code."""
    install_log_redaction()
    _redact_hydra_records()
    try:  # every interpolation (${oc.env:…}) resolved up front: a missing one is a config error
        OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as exc:
        log.error("config error: %s: %s", getattr(exc, "full_key", "") or "config", _one_line(exc).split(" full_key:")[0])
        return 2
    if _skip_finished(cfg):
        return 0
    try:
        components = build_components(cfg)
    except ConfigError as exc:
        log.error("config error: %s", exc)
        return exc.exit_code
    except SemaTuneError as exc:
        log.error("%s", exc)
        return exc.exit_code
    if components.settings.tracking.enabled:
        try:  # before the lock and the journal: a dead store must not hold the host for minutes
            check_tracking_store(components.settings.tracking.tracking_uri)
        except ConfigError as exc:
            log.error("config error: %s", exc)
            return exc.exit_code
    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    choices = dict(hydra_cfg.runtime.choices)
    settings = components.settings
    plain = redact(OmegaConf.to_container(cfg, resolve=True))  # secrets never reach params or artifacts
    assert isinstance(plain, dict)
    tracker_factory = None
    if settings.tracking.enabled:
        tracker_factory = functools.partial(
            MlflowTracker,
            settings.tracking.tracking_uri,
            settings.tracking.experiment,
            async_logging=settings.tracking.async_logging,
            parent_run_id=_parent_run_id(cfg) if multirun else None,
        )
    run_name = f"{choices.get('tuner')}-{choices.get('target')}-s{settings.seed}"
    probes = []
    if settings.probes:
        from sematune.targets.probes import default_probes

        probes = default_probes()
    recorder = RunRecorder(
        components,
        hydra_cfg.runtime.output_dir,
        run_name=run_name,
        params=run_params(plain, components, choices),
        tags={**run_tags(components, choices), "hydra.job.num": str(hydra_cfg.job.get("num", 0)),
              **_scheduler_tags(hydra_cfg),
              "overrides": " ".join(redact_overrides(hydra_cfg.overrides.task)),
              **job_tags(redact_overrides(hydra_cfg.overrides.task))},
        resolved_config=OmegaConf.to_yaml(OmegaConf.create(plain)),
        tracker_factory=tracker_factory,
    )
    session = RunSession(components, hydra_cfg.runtime.output_dir, recorder, run_name=run_name, probes=probes)
    code = session.run()
    if code == 0 and recorder.tracking_error is not None:
        code = 1  # tuned and restored, but the MLflow record is incomplete: not a clean success
    uri, experiment_id, run_id = recorder.mlflow_location()
    block = closing_block(recorder.summary, run_dir=hydra_cfg.runtime.output_dir, tracking_uri=uri,
                          experiment_id=experiment_id, run_id=run_id)
    log.info("done: %s\n%s", recorder.summary.get("status"), block)
    return code


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def _task(cfg: DictConfig) -> Any:
    _EntryState.task_started = True
    code = run(cfg)
    if code != 0 and HydraConfig.get().mode == RunMode.MULTIRUN:
        # Returned, not raised: Hydra would skip on_multirun_end (and the sweep's report).
        note_failed(job_key(list(HydraConfig.get().overrides.task)), code)
        return code
    if code != 0:
        sys.exit(code)
    return 0


def _bad_override() -> str:
    """``"<override>: "`` for the first command-line override Hydra's grammar rejects, else ``""``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for arg in sys.argv[1:]:
        if "=" in arg and not arg.startswith("-"):
            try:
                parser.parse_override(arg)
            except Exception:
                return f"{arg.split('=', 1)[0].lstrip('+~')}: "
    return ""


def _one_line(exc: BaseException) -> str:
    text = str(exc).split("Config search path", 1)[0]
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def main() -> None:
    """``python -m sematune``: Hydra CLI. A bad config exits with code 2 and one line on stderr."""
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")  # let composition errors reach us, not Hydra's printer
    quiet_preset_schema_warning()
    register_override_secrets(arg for arg in sys.argv[1:] if not arg.startswith("-"))
    try:
        _task()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(1)
    except Exception as exc:
        if not _EntryState.task_started or isinstance(exc, (HydraException, OmegaConfBaseException)):
            print(f"config error: {_bad_override()}{_one_line(exc)}", file=sys.stderr)
            sys.exit(2)
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        sys.exit(1)
    if failed_jobs():
        print(f"{len(failed_jobs())} sweep job(s) failed; see the log above and MLflow", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
