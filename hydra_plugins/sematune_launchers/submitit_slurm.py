"""``hydra/launcher=submitit_slurm``: hydra-submitit-launcher's SLURM launcher, made sweep-safe.

On top of the upstream launcher: every job is waited for even when an earlier one failed (the
upstream one raises at the first failure and leaves the others running unseen), a job that died
(node lost, process killed, time limit) becomes a failed return, and job states come from
``scontrol`` on clusters that keep no accounting (no slurmdbd: ``sacct`` fails there, and the
upstream watcher would wait forever for a job that died).
"""

from __future__ import annotations

import functools
import logging
import re
import subprocess
from typing import Any, Sequence

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, filter_overrides
from omegaconf import OmegaConf

from ._jobs import quiet_preset_schema_warning, settle

log = logging.getLogger(__name__)

try:  # optional: pip install 'sematune[distributed]'
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as _UpstreamSlurmLauncher
except ImportError:  # pragma: no cover - Hydra scans this module even without the extra
    _UpstreamSlurmLauncher = None

_FIELD = re.compile(r"(?:^|\s)(JobId|ArrayJobId|ArrayTaskId|JobState|NodeList)=(\S*)")


def _task_ids(spec: str) -> list[str]:
    """``0-3%2`` or ``1,4-5`` (a pending array's remaining tasks) → the task ids."""
    ids: list[str] = []
    for part in spec.split("%", 1)[0].split(","):
        first, _, last = part.partition("-")
        if first.isdigit() and (not last or last.isdigit()):
            ids += [str(i) for i in range(int(first), int(last or first) + 1)]
    return ids


def parse_scontrol_jobs(text: str) -> dict[str, dict[str, str]]:
    """``scontrol show job --oneliner`` → submitit's job info, keyed ``<id>`` or ``<array id>_<task>``."""
    info: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        fields = dict(_FIELD.findall(line))
        if "JobId" not in fields or "JobState" not in fields:
            continue
        entry = {"JobID": fields["JobId"], "State": fields["JobState"], "NodeList": fields.get("NodeList", "")}
        if fields.get("ArrayJobId") and fields.get("ArrayTaskId"):
            for task in _task_ids(fields["ArrayTaskId"]):
                info[f"{fields['ArrayJobId']}_{task}"] = entry
        else:
            info[fields["JobId"]] = entry
    return info


def _sacct_works() -> bool:
    proc = subprocess.run(["sacct", "--parsable2", "--noheader", "-o", "JobID", "-j", "1"],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        log.info("sacct is not available here (%s); following SLURM jobs with scontrol",
                 proc.stderr.strip() or f"exit {proc.returncode}")
    return proc.returncode == 0


@functools.lru_cache(maxsize=None)
def _job_class() -> type:
    """submitit's SlurmJob with a watcher that follows jobs with ``scontrol`` where ``sacct`` fails
    (imported when a sweep launches: Hydra scans this module at every start)."""
    from submitit.slurm.slurm import SlurmInfoWatcher, SlurmJob

    class Watcher(SlurmInfoWatcher):
        _use_sacct: bool | None = None

        def _make_command(self) -> list[str] | None:
            command = super()._make_command()
            if command is None:
                return None
            if self._use_sacct is None:
                self._use_sacct = _sacct_works()
            return command if self._use_sacct else ["scontrol", "show", "job", "--oneliner"]

        def read_info(self, string: bytes | str) -> dict[str, dict[str, str]]:
            if self._use_sacct:
                return super().read_info(string)
            return parse_scontrol_jobs(string.decode() if isinstance(string, bytes) else string)

    class Job(SlurmJob):
        watcher = Watcher(delay_s=60)  # states at least every minute: a dead job is noticed within one

    return Job


if _UpstreamSlurmLauncher is not None:

    class SlurmLauncher(_UpstreamSlurmLauncher):
        """One SLURM job per sweep job; waits for all of them; a dead job is a failed job."""

        def __call__(self, *args: Any, **kwargs: Any) -> JobReturn:
            """In the SLURM job: the upstream job body, without Hydra's note about the preset's schema."""
            quiet_preset_schema_warning()
            return super().__call__(*args, **kwargs)

        def _executor(self) -> Any:
            """The upstream launcher's executor, built from the same parameters."""
            import submitit

            specific_init_keys = {"max_num_timeout"}
            executor = submitit.AutoExecutor(cluster=self._EXECUTOR, folder=self.params["submitit_folder"], **{
                f"{self._EXECUTOR}_{k}": v for k, v in self.params.items() if k in specific_init_keys})
            base = set(OmegaConf.structured(BaseQueueConf).keys())
            executor.update_parameters(**{
                k if k in base else f"{self._EXECUTOR}_{k}": v
                for k, v in self.params.items() if k not in specific_init_keys | {"submitit_folder"}})
            return executor

        def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
            assert self.config is not None and len(job_overrides) > 0
            executor = self._executor()
            log.info("SLURM sweep output dir: %s", self.config.hydra.sweep.dir)
            indices = [initial_job_idx + i for i in range(len(job_overrides))]
            params = []
            for idx, overrides in zip(indices, job_overrides):
                log.info("\t#%d : %s", idx, " ".join(filter_overrides(overrides)))
                params.append((list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}", Singleton.get_state()))
            job_class = _job_class()  # submitit builds array jobs as its own SlurmJob: follow them with ours
            jobs = [job_class(folder=job.paths.folder, job_id=job.job_id, tasks=range(job.num_tasks))
                    for job in executor.map_array(self, *zip(*params))]
            log.info("submitted SLURM job(s) %s", " ".join(job.job_id for job in jobs))
            try:
                for job in jobs:  # all of them, whatever the first one did
                    job.wait()
            except KeyboardInterrupt:  # Ctrl-C of the sweep stops its jobs too; SLURM's SIGTERM makes each restore
                unfinished = [job for job in jobs if not job.done()]
                log.warning("interrupted: cancelling %d unfinished SLURM job(s) %s; each restores its host on "
                            "SLURM's SIGTERM", len(unfinished), " ".join(job.job_id for job in unfinished))
                for job in unfinished:
                    job.cancel(check=False)
                raise
            return [settle(idx, overrides, lambda job=job: job.results()[0], logs=f"{job.paths.stderr} (stderr)")
                    for idx, overrides, job in zip(indices, job_overrides, jobs)]
