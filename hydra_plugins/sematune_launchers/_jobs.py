"""What SemaTune's launchers share: a job's outcome as the sweep sees it."""

from __future__ import annotations

import logging
import warnings
from typing import Any, Callable, Sequence

from hydra.core.utils import JobReturn, JobStatus, filter_overrides

from sematune.sweep_failures import note_failed
from sematune.tracking.sweep_runs import job_key

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
        why = f"died without a result: {first}" + (f"; its output: {logs}" if logs else "")
    else:
        if isinstance(ret, JobReturn) and ret.status != JobStatus.FAILED:
            code = ret.return_value
            if code not in (0, None):  # the job ran and said why; its run holds the details
                note_failed(job_key(overrides), code if isinstance(code, int) else 1)
            return ret
        # an exception that escaped the task: Hydra's sweeper would abort the sweep on it
        why = f"failed: {ret._return_value}" if isinstance(ret, JobReturn) else f"returned {ret!r}, not a job result"
    log.error("sweep job %s %s", describe(idx, overrides), why)
    note_failed(job_key(overrides), 1)
    return failed_return(overrides)
