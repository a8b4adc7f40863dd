"""What SemaTune's launchers share: a job's config, and a job's outcome as the sweep sees it."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from omegaconf import DictConfig, open_dict

from sematune.sweep_failures import note_failed

log = logging.getLogger(__name__)


def quiet_preset_schema_warning() -> None:
    """conf/hydra/launcher/*.yaml are presets over the launcher plugins' schemas of the same name, on
    purpose; Hydra warns about that at every composition."""
    warnings.filterwarnings("ignore", message=r"\s*'hydra/launcher/\w+' is validated against ConfigStore schema")


def describe(idx: int, overrides: Sequence[str]) -> str:
    return f"#{idx} ({' '.join(filter_overrides(overrides))})"


def failed_return(overrides: Sequence[str], code: int = 1) -> JobReturn:
    """A job that failed or died, returned (not raised) so that the sweep reaches its end."""
    ret = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
    ret.return_value = code
    return ret


def settle(idx: int, overrides: Sequence[str], result: Callable[[], Any], logs: str = "") -> JobReturn:
    """The job's return; a dead job (``result`` raises) or a failed one becomes a failed return.
    ``logs`` says where the job's own output is, for the message about a dead job."""
    try:
        ret = result()
    except Exception as exc:  # the scheduler's word for a job that never answered
        first = " ".join(" ".join(str(exc).strip().splitlines()[:2]).split())[:400]
        log.error("sweep job %s died without a result: %s%s", describe(idx, overrides), first,
                  f"; its output: {logs}" if logs else "")
        note_failed(str(idx), 1)
        return failed_return(overrides)
    if not isinstance(ret, JobReturn):
        log.error("sweep job %s returned %r, not a job result", describe(idx, overrides), ret)
        note_failed(str(idx), 1)
        return failed_return(overrides)
    if ret.status == JobStatus.FAILED:  # an exception escaped the task: Hydra would abort the sweep on it
        log.error("sweep job %s failed: %s", describe(idx, overrides), ret._return_value)
        note_failed(str(idx), 1)
        return failed_return(overrides)
    code = ret.return_value
    if code not in (0, None):
        note_failed(str(idx), code if isinstance(code, int) else 1)
    return ret


def absolute_sweep_dir(config: DictConfig) -> Path:
    """The sweep dir, made absolute: a job's process may start in another working directory."""
    sweep_dir = Path(str(config.hydra.sweep.dir)).absolute()
    sweep_dir.mkdir(parents=True, exist_ok=True)
    return sweep_dir


def pin_sweep_dir(job_config: DictConfig, sweep_dir: Path) -> None:
    with open_dict(job_config):
        job_config.hydra.sweep.dir = str(sweep_dir)
