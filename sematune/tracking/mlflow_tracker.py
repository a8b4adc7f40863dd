"""One MLflow run per tuning run: static config as params, every window as step metrics, artifacts."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Mapping, Optional

from sematune.engine.records import PHASE_CODES, WindowRecord
from sematune.osparams.space import ParameterSpace
from sematune.tracking.keys import TIME, knob_key, target_key
from sematune.tracking.redact import redact

log = logging.getLogger(__name__)

PARENT_ENV = "SEMATUNE_MLFLOW_PARENT_RUN_ID"
PARENT_FILE = "mlflow_parent_run_id"
#: MLflow 3's experiment-kind tag: a model-training experiment opens on the runs table and charts,
#: not on the GenAI pages.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
TRAINING_KIND = "custom_model_development"
MAX_PARAM_CHARS = 6000


def resolve_tracking_uri(uri: str, base_dir: str | os.PathLike[str] | None = None) -> str:
    """Make a relative ``sqlite:///file.db`` absolute against ``base_dir`` (default: CWD)."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        path = Path(base_dir or os.getcwd()) / uri[len(prefix):]
        return prefix + str(path.resolve())
    return uri


def mlflow_client(tracking_uri: str) -> Any:
    """An ``MlflowClient`` for ``tracking_uri`` whose model registry is the same store (otherwise
    MLflow opens the default ``sqlite:///mlflow.db`` in the CWD for it, even for a server URI)."""
    from mlflow import MlflowClient

    uri = resolve_tracking_uri(tracking_uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def quiet_mlflow_logs() -> None:
    for name in ("alembic", "mlflow.store.db.utils", "mlflow.tracking._tracking_service.client"):
        logging.getLogger(name).setLevel(logging.WARNING)


def knob_metric(space: Optional[ParameterSpace], name: str, value: Any) -> Optional[float]:
    """A knob value as a number: itself, or its index among the choices."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if space is not None and name in space:
        choices = space[name].domain.choices
        if choices is not None and value in choices:
            return float(choices.index(value))
    return None


def window_metrics(record: WindowRecord, space: Optional[ParameterSpace] = None) -> dict[str, float]:
    """Everything numeric about a window, keyed for MLflow (step = window index; keys: :mod:`.keys`)."""
    metrics: dict[str, float] = {
        "phase": float(PHASE_CODES[record.phase]),
        "window/ok": 1.0 if record.status == "ok" else 0.0,
        "window/feasible": 1.0 if record.feasible else 0.0,
        "window/attempts": float(record.attempts),
        "window/rejected": float(len(record.rejected)),
        "window/clipped": float(len(record.clipped)),
        "window/write_errors": float(len(record.write_errors)),
    }
    arm = getattr(record, "arm", None)
    if arm is not None:  # confirm and stable windows: 1 when the host defaults were measured
        metrics["window/defaults"] = 1.0 if arm == "defaults" else 0.0
    if record.reward is not None:
        metrics["reward"] = record.reward
    if record.objective is not None:
        metrics["objective"] = record.objective
    if record.constraint_violation is not None:
        metrics["window/constraint_violation"] = record.constraint_violation
    if record.metrics is not None:
        metrics.update({target_key(k): v for k, v in record.metrics.flat().items()})
    for name, value in record.applied.items():
        number = knob_metric(space, name, value)
        if number is not None:
            metrics[knob_key(name)] = number
    for name, seconds in record.timings.items():
        metrics[f"{TIME}{name}"] = seconds
    if record.phase == "tuning":
        metrics[f"{TIME}tuner_s"] = record.tuner.compute_s
        if record.tuner.confidence is not None:
            metrics["tuner/confidence"] = record.tuner.confidence
        usage = record.tuner.token_usage
        if usage is not None:
            metrics.update(
                {
                    "tokens/input": float(usage.input_tokens),
                    "tokens/output": float(usage.output_tokens),
                    "tokens/thinking": float(usage.thinking_tokens),
                    "tokens/cost_usd": usage.cost_usd,
                    "llm/calls": float(usage.calls),
                    "llm/failed_calls": float(usage.failed_calls),
                    "llm/latency_s": usage.latency_s,
                }
            )
    return metrics


class MlflowTracker:
    """Logs a run to MLflow through :class:`mlflow.MlflowClient` (asynchronous metric batches)."""

    def __init__(
        self,
        tracking_uri: str = "sqlite:///mlflow.db",
        experiment: str = "sematune",
        async_logging: bool = True,
        parent_run_id: Optional[str] = None,
    ) -> None:
        quiet_mlflow_logs()
        if async_logging:
            # one sender thread: MLflow otherwise posts a run's batches concurrently, and a server on
            # PostgreSQL then rejects some (unique violation on latest_metrics), losing whole windows
            os.environ.setdefault("MLFLOW_ASYNC_LOGGING_THREADPOOL_SIZE", "1")
        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        self.experiment = experiment
        self.async_logging = async_logging
        self.client = mlflow_client(self.tracking_uri)
        self.parent_run_id = parent_run_id or None
        self.run_id: Optional[str] = None
        self.experiment_run_id: Optional[str] = None  # the experiment the run was started in
        self.space: Optional[ParameterSpace] = None

    def experiment_id(self) -> str:
        """The experiment's id; created (or, made by an older version, marked) as a training experiment."""
        existing = self.client.get_experiment_by_name(self.experiment)
        if existing is None:
            try:
                return self.client.create_experiment(self.experiment, tags={EXPERIMENT_KIND_TAG: TRAINING_KIND})
            except Exception:  # a concurrent job created it first
                existing = self.client.get_experiment_by_name(self.experiment)
                if existing is None:
                    raise
        if EXPERIMENT_KIND_TAG not in existing.tags:
            self.client.set_experiment_tag(existing.experiment_id, EXPERIMENT_KIND_TAG, TRAINING_KIND)
        return existing.experiment_id

    def start(self, run_name: str, params: Mapping[str, Any], tags: Mapping[str, str], space: ParameterSpace) -> str:
        self.space = space
        params, tags = redact(dict(params)), redact(dict(tags))
        all_tags = {k: str(v)[:5000] for k, v in tags.items()}
        if self.parent_run_id:
            all_tags["mlflow.parentRunId"] = self.parent_run_id
        self.experiment_run_id = self.experiment_id()
        run = self.client.create_run(self.experiment_run_id, run_name=run_name, tags=all_tags)
        self.run_id = run.info.run_id
        from mlflow.entities import Param

        batch = [Param(k, str(v)[:MAX_PARAM_CHARS]) for k, v in params.items()]
        for i in range(0, len(batch), 100):
            self.client.log_batch(self.run_id, params=batch[i : i + 100])
        return self.run_id

    def log_window(self, record: WindowRecord) -> None:
        if self.run_id is None:
            return
        from mlflow.entities import Metric

        stamp = int(record.started_at * 1000) or int(time.time() * 1000)
        metrics = [Metric(k, float(v), stamp, record.window) for k, v in window_metrics(record, self.space).items()]
        for i in range(0, len(metrics), 1000):
            self.client.log_batch(self.run_id, metrics=metrics[i : i + 1000], synchronous=not self.async_logging)

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        """Run-level metrics (step 0), e.g. the verdict's ``verdict.gain``."""
        if self.run_id is None or not metrics:
            return
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        batch = [Metric(k, float(v), stamp, 0) for k, v in metrics.items()]
        self.client.log_batch(self.run_id, metrics=batch, synchronous=not self.async_logging)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        if self.run_id is None:
            return
        for key, value in redact({k: str(v) for k, v in tags.items()}).items():
            self.client.set_tag(self.run_id, key, value[:5000])

    def log_artifact(self, path: str | os.PathLike[str], artifact_path: Optional[str] = None) -> None:
        if self.run_id is not None and Path(path).exists():
            self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_artifacts(self, directory: str | os.PathLike[str], artifact_path: str) -> None:
        """Every file under ``directory`` (e.g. a tuner's prompts and replies) under ``artifact_path``."""
        if self.run_id is not None and Path(directory).is_dir() and any(Path(directory).iterdir()):
            self.client.log_artifacts(self.run_id, str(directory), artifact_path)

    def finish(self, status: str = "FINISHED") -> None:
        if self.run_id is None:
            return
        if self.async_logging:
            # this client's store holds the queue; mlflow.flush_async_logging() would flush (and
            # create) the process-wide default store, sqlite:///mlflow.db in the CWD
            self.client._tracking_client.store.flush_async_logging()
        self.client.set_terminated(self.run_id, status=status)
