"""``hydra/launcher=ray``: sweep jobs as Ray tasks on an existing Ray cluster.

Each job asks for the custom resources in ``ray.remote.resources`` (the preset: one unit of
``sematune_host``, which every tuning host offers once), so Ray never runs two jobs on one host.
Each job gets a fresh worker process (``max_calls: 1``), is never retried behind SemaTune's back
(``max_retries: 0``; rerun with ``resume=true``), and the launcher waits for all of them: a job
whose worker or node died becomes a failed return. Needs only ``ray`` (``pip install
'sematune[ray]'``), imported when a sweep launches.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Optional, Sequence

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

from sematune.errors import ConfigError

from ._jobs import settle

log = logging.getLogger(__name__)

#: Environment passed from the submitting process to every job (Ray workers do not inherit it).
FORWARDED_PREFIXES = ("SEMATUNE_",)
#: How long Ctrl-C of a sweep waits for its interrupted jobs to restore their hosts.
CANCEL_WAIT_S = 120.0


def _run_job(hydra_context: HydraContext, sweep_config: DictConfig, task_function: TaskFunction,
             singleton_state: dict[Any, Any]) -> JobReturn:
    """Runs in the Ray worker: Hydra's job set-up, then the task."""
    import ray
    from hydra.core.hydra_config import HydraConfig

    setup_globals()
    Singleton.set_state(singleton_state)
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = ray.get_runtime_context().get_task_id()
    HydraConfig.instance().set_config(sweep_config)
    return run_job(hydra_context=hydra_context, task_function=task_function, config=sweep_config,
                   job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")


def check_resources(available: dict[str, float], wanted: dict[str, float]) -> None:
    """Refuse a sweep whose jobs ask for a resource no node of the cluster offers (they would wait forever)."""
    missing = {k: v for k, v in wanted.items() if available.get(k, 0) < v}
    if missing:
        name = next(iter(missing))
        raise ConfigError("hydra.launcher.ray.remote.resources",
                          f"no node of the Ray cluster offers {name}={missing[name]:g} (the cluster has "
                          f"{ {k: v for k, v in available.items() if not k.startswith('node:')} }); start every "
                          f"tuning host with `ray start --address=<head>:6379 --resources='{{\"{name}\": 1}}'`")


class RayLauncher(Launcher):
    """Runs a sweep's jobs as Ray tasks; waits for every one; a dead worker is a failed job."""

    def __init__(self, ray: DictConfig) -> None:
        options: dict = OmegaConf.to_container(ray, resolve=True) if OmegaConf.is_config(ray) else dict(ray)
        self.init: dict = dict(options.get("init") or {})
        self.remote: dict = dict(options.get("remote") or {})
        self.config: Optional[DictConfig] = None
        self.hydra_context: Optional[HydraContext] = None
        self.task_function: Optional[TaskFunction] = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def _connect(self) -> Any:
        try:
            import ray
        except ImportError as exc:
            raise ConfigError("hydra/launcher", f"ray is not installed ({exc}); pip install 'sematune[ray]'") from None
        if not ray.is_initialized():
            log.info("connecting to Ray: %s", self.init)
            ray.init(**self.init)
        check_resources(ray.cluster_resources(), dict(self.remote.get("resources") or {}))
        return ray

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        ray = self._connect()
        sweep_dir = Path(str(self.config.hydra.sweep.dir)).absolute()  # a worker starts in another directory
        env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_PREFIXES)}
        options = {**self.remote, "runtime_env": {"env_vars": env}} if env else dict(self.remote)
        remote_job = ray.remote(**options)(_run_job)
        log.info("Ray sweep: %d job(s), output dir %s", len(job_overrides), sweep_dir)
        pending: dict[Any, tuple[int, Sequence[str]]] = {}
        for offset, overrides in enumerate(job_overrides):
            idx = initial_job_idx + offset
            log.info("\t#%d : %s", idx, " ".join(filter_overrides(overrides)))
            job_config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(job_config):
                job_config.hydra.job.num = idx
                job_config.hydra.job.id = f"job_id_for_{idx}"
                job_config.hydra.sweep.dir = str(sweep_dir)
            ref = remote_job.remote(self.hydra_context, job_config, self.task_function, Singleton.get_state())
            pending[ref] = (idx, overrides)
        returns: dict[int, JobReturn] = {}
        waiting = list(pending)
        try:
            while waiting:  # every job, in the order they end, whatever the others did
                done, waiting = ray.wait(waiting, num_returns=1, timeout=None)
                for ref in done:
                    idx, overrides = pending[ref]
                    returns[idx] = settle(idx, overrides, lambda ref=ref: ray.get(ref))
        except KeyboardInterrupt:
            _interrupt(ray, waiting)
            raise
        return [returns[idx] for idx in sorted(returns)]


def _interrupt(ray: Any, refs: list[Any]) -> None:
    """Ctrl-C of the sweep: interrupt the running jobs (each restores its host) and drop the queued ones.

    Left alone, they would be killed outright when this driver exits, with their hosts unrestored.
    """
    log.warning("interrupted: stopping %d unfinished Ray job(s); each restores its host", len(refs))
    for ref in refs:
        ray.cancel(ref, force=False)  # a running task gets KeyboardInterrupt, as from Ctrl-C
    ray.wait(refs, num_returns=len(refs), timeout=CANCEL_WAIT_S)
