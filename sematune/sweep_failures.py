"""Failed sweep jobs, as the submitting process learns of them.

Three sources feed it: jobs the submitting process ran itself (the basic launcher), the returns
that remote launchers (SLURM, Ray) bring back, and the job runs' MLflow statuses at the sweep's
end (which also covers jobs whose process died). ``python -m sematune -m …`` exits 1 when any
job failed, after the report.
"""

from __future__ import annotations

_FAILED: dict[str, int] = {}


def note_failed(job: str, code: int) -> None:
    """Record that sweep job ``job`` (its job key, :func:`sematune.tracking.sweep_runs.job_key`) ended with
    ``code``; a job reported by several sources counts once."""
    _FAILED[str(job)] = int(code) or 1


def failed_jobs() -> dict[str, int]:
    """Job → exit code of every failed job recorded in this process."""
    return dict(_FAILED)


def clear() -> None:
    _FAILED.clear()
