"""Entry point: compose the config → instantiate → run the session → exit code.

Exit codes: 0 success, 2 bad configuration (nothing was written), 1 any other failure (the
host is restored in every case).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from sematune.components import build_components
from sematune.engine.session import RunSession, run_tags
from sematune.errors import ConfigError, SemaTuneError
from sematune.tracking.mlflow_tracker import PARENT_ENV, PARENT_FILE, MlflowTracker, flatten

log = logging.getLogger("sematune")


class JobFailed(RuntimeError):
    """A sweep job's non-zero exit, reported to Hydra's launcher."""


class _EntryState:
    task_started = False


def _parent_run_id(cfg: DictConfig) -> str | None:
    import os
    from pathlib import Path

    if os.environ.get(PARENT_ENV):
        return os.environ[PARENT_ENV]
    marker = Path(str(cfg.hydra.sweep.dir)) / PARENT_FILE
    return marker.read_text().strip() if marker.exists() else None


def run(cfg: DictConfig) -> int:
    """Run one tuning run from a composed config; return the exit code."""
    try:
        components = build_components(cfg)
    except ConfigError as exc:
        log.error("config error: %s", exc)
        return exc.exit_code
    except SemaTuneError as exc:
        log.error("%s", exc)
        return exc.exit_code
    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    choices = dict(hydra_cfg.runtime.choices)
    settings = components.settings
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(plain, dict)
    tracker = None
    if settings.tracking.enabled:
        tracker = MlflowTracker(
            settings.tracking.tracking_uri,
            settings.tracking.experiment,
            async_logging=settings.tracking.async_logging,
            parent_run_id=_parent_run_id(cfg) if multirun else "",
        )
        if not multirun:
            tracker.parent_run_id = None
    run_name = f"{choices.get('tuner')}-{choices.get('target')}-s{settings.seed}"
    probes = []
    if settings.probes:
        from sematune.targets.probes import default_probes

        probes = default_probes()
    session = RunSession(
        components,
        hydra_cfg.runtime.output_dir,
        run_name=run_name,
        params=flatten(plain),
        tags={**run_tags(components, choices), "hydra.job.num": str(hydra_cfg.job.get("num", 0)),
              "overrides": " ".join(hydra_cfg.overrides.task)},
        resolved_config=OmegaConf.to_yaml(cfg, resolve=True),
        tracker=tracker,
        probes=probes,
    )
    code = session.run()
    s = session.summary()
    fmt = lambda v: "—" if v is None else f"{v:.6g}"  # noqa: E731
    log.info(
        "done: %s; %s baseline %s, best %s (window %s), stable mean %s; host restore %s; outputs in %s",
        s["status"], s["objective_metric"], fmt(s["baseline_objective"]), fmt(s["best_objective"]),
        s["best_window"], fmt(s["stable_mean_objective"]), s["restore"], hydra_cfg.runtime.output_dir,
    )
    return code


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def _task(cfg: DictConfig) -> Any:
    _EntryState.task_started = True
    code = run(cfg)
    if code == 0:
        return 0
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        raise JobFailed(f"job failed with exit code {code}")
    sys.exit(code)


def main() -> None:
    """``python -m sematune``: Hydra CLI; composition errors exit with code 2."""
    try:
        _task()
    except SystemExit as exc:
        if exc.code == 1 and not _EntryState.task_started:
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
