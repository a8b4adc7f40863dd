"""A sweep's jobs: their identity keys, and their runs read back from a sweep dir or MLflow.

A job is identified by its task overrides without the keys that do not change what it measures
(``resume``, ``sweep_name``, ``tracking.*``, ``hydra.*``, ``host_root``, ``host.state_dir``):
``job_key`` hashes the sorted rest. The expected jobs of a sweep are its overrides expanded the
way Hydra's basic sweeper does; a job with no run is reported as MISSING.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import yaml

from sematune.engine.records import PHASE_CODES, WindowRecord, read_history
from sematune.tracking.keys import KNOB, find_key, modern_key
from sematune.tracking.mlflow_tracker import PARENT_FILE
from sematune.tracking.comparison_model import IGNORED_KEYS, JobRun, key_matches, override_key

log = logging.getLogger(__name__)

#: Written next to ``mlflow_parent_run_id`` so that a sweep dir names its tracking store.
TRACKING_URI_FILE = "mlflow_tracking_uri"
#: Parent-run tags (JSON lists) and child-run tags used to match jobs.
SWEEP_OVERRIDES_TAG = "sematune.sweep_overrides"
SWEEP_KEY_TAG = "sematune.sweep_key"
SWEEP_NAME_TAG = "sematune.sweep_name"
JOB_KEY_TAG = "sematune.job_key"
JOB_OVERRIDES_TAG = "sematune.job_overrides"
#: Written into a job dir that ``resume=true`` skipped.
SKIPPED_FILE = "skipped.json"
FINISHED = "FINISHED"


def identity(overrides: Sequence[str]) -> list[str]:
    """The overrides that define what a job measures, sorted."""
    return sorted(o for o in overrides if not key_matches(override_key(o), IGNORED_KEYS))


def job_key(overrides: Sequence[str]) -> str:
    """A short stable hash of :func:`identity`."""
    return hashlib.sha1("\n".join(identity(overrides)).encode()).hexdigest()[:16]


def job_tags(overrides: Sequence[str]) -> dict[str, str]:
    """Tags that let reports and ``resume`` match a job's MLflow run to the sweep's jobs."""
    return {JOB_KEY_TAG: job_key(overrides), JOB_OVERRIDES_TAG: json.dumps(list(overrides))[:5000]}


def with_sweeper_params(task: Sequence[str], params: Optional[dict[str, Any]]) -> list[str]:
    """The task overrides after the grid a config sets in ``hydra.sweeper.params`` (e.g. an
    experiment preset), for the keys not typed on the command line — as Hydra's basic sweeper
    combines them."""
    typed = {str(o).split("=", 1)[0].lstrip("+~") for o in task}
    return [f"{key}={value}" for key, value in (params or {}).items() if key not in typed] + [str(o) for o in task]


def expand_sweep(overrides: Sequence[str]) -> Optional[list[list[str]]]:
    """The job override lists Hydra's basic sweeper makes from ``overrides`` (``None`` if it cannot)."""
    try:
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
        from hydra.core.override_parser.overrides_parser import OverridesParser

        parsed = OverridesParser.create().parse_overrides(list(overrides))
        return [list(job) for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]
    except Exception as exc:  # a sweeper syntax the basic sweeper does not know
        log.debug("cannot expand sweep overrides %s: %s", overrides, exc)
        return None


def sweep_key(overrides: Sequence[str]) -> str:
    """Identity of a sweep: its expanded jobs' keys (order-free), or its own overrides."""
    jobs = expand_sweep(overrides)
    keys = sorted(job_key(j) for j in jobs) if jobs is not None else identity(overrides)
    return hashlib.sha1("\n".join(keys).encode()).hexdigest()[:16]


@dataclass
class SweepRuns:
    """What a report is built from."""

    source: str
    jobs: list[JobRun] = field(default_factory=list)
    sweep_overrides: list[str] = field(default_factory=list)
    parent_run_id: Optional[str] = None
    tracking_uri: Optional[str] = None
    sweep_dir: Optional[str] = None


def _complete(found: Sequence[JobRun], sweep_overrides: Sequence[str]) -> list[JobRun]:
    """Expected jobs in sweep order (MISSING where no run was found), then any others."""
    by_key: dict[str, JobRun] = {}
    for run in found:
        by_key[run.key] = _prefer(by_key.get(run.key), run)
    expected = expand_sweep(sweep_overrides) if sweep_overrides else None
    jobs: list[JobRun] = []
    for overrides in expected or []:
        key = job_key(overrides)
        if key in by_key:
            jobs.append(by_key.pop(key))
        elif all(j.key != key for j in jobs):
            jobs.append(JobRun(key=key, overrides=tuple(overrides), status="MISSING", note="no run found"))
    jobs.extend(by_key.values())
    common = {attr: {getattr(j, attr) for j in found if getattr(j, attr) is not None} for attr in ("target", "tuner")}
    for job in jobs:
        if job.status != "MISSING":
            continue
        m = job.override_map()
        job.target = m.get("target") or (next(iter(common["target"])) if len(common["target"]) == 1 else None)
        job.tuner = m.get("tuner") or (next(iter(common["tuner"])) if len(common["tuner"]) == 1 else None)
        seed = m.get("seed")
        job.seed = int(seed) if seed is not None and seed.lstrip("-").isdigit() else None
    return jobs


def _prefer(old: Optional[JobRun], new: JobRun) -> JobRun:
    """Of two runs of one job (a resumed sweep): the FINISHED one, else the later one."""
    if old is None:
        return new
    if (old.status == FINISHED) != (new.status == FINISHED):
        return old if old.status == FINISHED else new
    return new if new.started >= old.started else old


# -- a sweep dir ----------------------------------------------------------------------------
def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None


def _job_from_dir(job_dir: Path) -> JobRun:
    overrides = [str(o) for o in (_read_yaml(job_dir / ".hydra" / "overrides.yaml") or [])]
    hydra_cfg = (_read_yaml(job_dir / ".hydra" / "hydra.yaml") or {}).get("hydra", {})
    choices = (hydra_cfg.get("runtime") or {}).get("choices") or {}
    config = _read_yaml(job_dir / ".hydra" / "config.yaml") or {}
    job = JobRun(key=job_key(overrides), overrides=tuple(overrides), run_dir=str(job_dir),
                 target=choices.get("target"), tuner=choices.get("tuner"))
    seed = config.get("seed") if isinstance(config, dict) else None
    job.seed = int(seed) if isinstance(seed, int) else None
    history = job_dir / "history.jsonl"
    if history.exists():
        job.records = read_history(history)
    summary_path = job_dir / "summary.json"
    skipped_path = job_dir / SKIPPED_FILE
    if summary_path.exists():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        job.status = str(summary.get("status") or "FAILED")
        job.metric, job.goal = summary.get("objective_metric"), summary.get("goal")
        calls = (summary.get("tuner") or {}).get("calls") if isinstance(summary.get("tuner"), dict) else None
        job.model_calls = calls.get("total") if isinstance(calls, dict) else None
    elif skipped_path.exists():
        skipped = json.loads(skipped_path.read_text(encoding="utf-8"))
        job.status = "SKIPPED"
        job.note = f"finished earlier in MLflow run {skipped.get('run_id')}; read the report from MLflow"
    else:
        job.status = "FAILED"
        job.note = "no summary.json (the job crashed or stopped before running)"
    job.started = job_dir.stat().st_mtime
    return job


def load_sweep_dir(sweep_dir: str | Path) -> SweepRuns:
    """Read every job dir (one with ``.hydra/overrides.yaml``) under a sweep dir."""
    root = Path(sweep_dir).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"no sweep directory {root}")
    multirun = _read_yaml(root / "multirun.yaml") or {}
    hydra = multirun.get("hydra") or {}
    sweep_overrides = with_sweeper_params((hydra.get("overrides") or {}).get("task") or [],
                                          (hydra.get("sweeper") or {}).get("params"))
    found = [_job_from_dir(p.parent.parent) for p in sorted(root.glob("**/.hydra/overrides.yaml"))
             if p.parent.parent != root]
    parent_file = root / PARENT_FILE
    uri_file = root / TRACKING_URI_FILE
    return SweepRuns(
        source=str(root),
        jobs=_complete(found, sweep_overrides),
        sweep_overrides=sweep_overrides,
        parent_run_id=parent_file.read_text().strip() if parent_file.exists() else None,
        tracking_uri=uri_file.read_text().strip() if uri_file.exists() else None,
        sweep_dir=str(root),
    )


def has_job_dirs(sweep_dir: str | Path) -> bool:
    return any(Path(sweep_dir).glob("**/.hydra/overrides.yaml"))


# -- an MLflow parent run -------------------------------------------------------------------
def _json_list(value: Optional[str]) -> Optional[list[str]]:
    if not value:
        return None
    try:
        data = json.loads(value)
    except json.JSONDecodeError:
        return None
    return [str(v) for v in data] if isinstance(data, list) else None


def child_runs(client: Any, experiment_id: str, parent_run_id: str) -> list[Any]:
    """Every run whose ``mlflow.parentRunId`` is ``parent_run_id`` (all pages)."""
    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
            max_results=1000, page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def close_orphans(client: Any, experiment_id: str, parent_run_id: str, status: str, why: str) -> list[Any]:
    """Terminate (``status``) every child run still RUNNING: its job's process died without closing it.

    Call only when no job of the sweep can still be running (the launcher has returned, or a
    rerun reopens the sweep). Returns the other children, as found.
    """
    children = child_runs(client, experiment_id, parent_run_id)
    for child in children:
        if child.info.status == "RUNNING":
            log.warning("sweep job run %s (job %s) was left RUNNING: %s; marking it %s", child.info.run_id,
                        child.data.tags.get("hydra.job.num", "?"), why, status)
            client.set_tag(child.info.run_id, "status", status)
            client.set_tag(child.info.run_id, "failure", why)
            client.set_terminated(child.info.run_id, status=status)
    return [c for c in children if c.info.status != "RUNNING"]


def _job_from_run(client: Any, run: Any, workdir: Path) -> JobRun:
    tags = run.data.tags
    overrides = _json_list(tags.get(JOB_OVERRIDES_TAG)) or tags.get("overrides", "").split()
    objective = tags.get("objective", "")
    metric, goal = None, None
    if objective.endswith(")") and " (" in objective:
        metric, goal = objective[:-1].rsplit(" (", 1)
    seed = tags.get("seed")
    job = JobRun(
        key=tags.get(JOB_KEY_TAG) or job_key(overrides), overrides=tuple(overrides), status=run.info.status,
        target=tags.get("target"), tuner=tags.get("tuner"),
        seed=int(seed) if seed is not None and seed.lstrip("-").isdigit() else None,
        metric=metric, goal=goal, run_id=run.info.run_id,
    )
    job.started = (run.info.start_time or 0) / 1000.0
    calls = {k[len("tuner.calls."):]: v for k, v in tags.items() if k.startswith("tuner.calls.")}
    if calls:
        job.model_calls = {k: float(v) for k, v in calls.items() if _is_number(v)}
    try:
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        local = client.download_artifacts(run.info.run_id, "history.jsonl", str(workdir / run.info.run_id))
        job.records = read_history(local)
    except Exception as exc:
        job.records = records_from_metrics(client, run)
        job.note = f"no history.jsonl artifact ({type(exc).__name__})" + (
            "; windows rebuilt from the run's metrics" if job.records else "")
    return job


def records_from_metrics(client: Any, run: Any) -> list[WindowRecord]:
    """A run's windows rebuilt from its logged metrics (when its ``history.jsonl`` never reached the
    store): phase, status, objective, reward and numeric knob values. Reads the current keys and
    the dotted ones of older stores (:func:`sematune.tracking.keys.find_key`)."""
    keys = list(run.data.metrics)
    phase_key = find_key(keys, "phase")
    if phase_key is None:
        return []
    history = lambda key: {m.step: m.value for m in client.get_metric_history(run.info.run_id, key)}  # noqa: E731
    wanted = {"objective": "objective", "reward": "reward", "ok": "window/ok", "defaults": "window/defaults"}
    series = {name: history(k) if (k := find_key(keys, key)) else {} for name, key in wanted.items()}
    knobs = {modern_key(k)[len(KNOB):]: history(k) for k in keys if modern_key(k).startswith(KNOB)}
    phases = {code: name for name, code in PHASE_CODES.items()}
    records = []
    for step, code in sorted(history(phase_key).items()):
        phase = phases.get(int(code))
        if phase is None:
            continue
        record = WindowRecord(
            window=step, phase=phase, status="ok" if series["ok"].get(step, 1.0) == 1.0 else "failed",
            objective=series["objective"].get(step), reward=series["reward"].get(step),
            applied={name: values[step] for name, values in knobs.items() if step in values},
        )
        if series["defaults"].get(step) == 1.0 and "arm" in WindowRecord.model_fields:
            record.arm = "defaults"  # type: ignore[attr-defined]
        records.append(record)
    return records


def load_parent_run(client: Any, parent_run_id: str) -> SweepRuns:
    """Read a sweep's parent run and its children (their ``history.jsonl`` artifacts)."""
    parent = client.get_run(parent_run_id)
    tags = parent.data.tags
    sweep_overrides = _json_list(tags.get(SWEEP_OVERRIDES_TAG)) or tags.get("overrides", "").split()
    children = child_runs(client, parent.info.experiment_id, parent_run_id)
    with tempfile.TemporaryDirectory(prefix="sematune-report-") as tmp:
        found = [_job_from_run(client, run, Path(tmp)) for run in children]
    uri = getattr(client, "tracking_uri", None)
    return SweepRuns(
        source=f"MLflow {uri}" if uri else "MLflow",
        jobs=_complete(found, sweep_overrides),
        sweep_overrides=sweep_overrides,
        parent_run_id=parent_run_id,
        tracking_uri=uri,
        sweep_dir=tags.get("sweep_dir"),
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True
