"""A run's host-safe lifecycle: lock → stale restore → journal → track → loop → always restore.

Whatever ends the loop — normal end, a target error, an exception, SIGINT, SIGTERM or SIGHUP —
the ``finally`` block stops the target, restores every journaled file in reverse order,
verifies the bytes, writes the restoration report and closes the MLflow run.
"""

from __future__ import annotations

import json
import logging
import platform
import signal
from pathlib import Path
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Mapping, Optional

from sematune.components import Components
from sematune.engine import guards
from sematune.engine.journal import HostJournal
from sematune.engine.lock import HostLock, lock_dir_for
from sematune.engine.loop import Engine
from sematune.engine.progress import RunProgress
from sematune.engine.records import HistoryWriter
from sematune.engine.signals import interrupts_raise, shielded
from sematune.errors import HostSafetyError, RunInterrupted, SemaTuneError, TargetError
from sematune.tracking.artifacts import write_json, write_window_table
from sematune.tracking.mlflow_tracker import MlflowTracker
from sematune.tracking.plots import plot_objective_per_window

log = logging.getLogger(__name__)


def restore_stale_journal(state_dir: str, run_dir: Path) -> Optional[dict[str, Any]]:
    """Restore a journal a crashed run left behind; raise if the host cannot be put back."""
    stale = HostJournal.load(state_dir)
    if stale is None:
        return None
    log.warning("found a stale journal from %s (pid %s); restoring the host first",
                stale.data and stale.data.get("created_at"), stale.data and stale.data.get("pid"))
    report = stale.restore()
    write_json(report, run_dir / "stale_restoration_report.json")
    if report["verify_status"] != "PASS" or report["restore_status"] != "PASS":
        raise HostSafetyError(
            f"a stale journal in {state_dir} could not be restored; see {run_dir / 'stale_restoration_report.json'}"
        )
    return report


def host_state(journal: HostJournal) -> dict[str, str]:
    """``{path: current text}`` for every journaled file."""
    state = {}
    assert journal.data is not None
    for entry in journal.data["entries"]:
        try:
            state[entry["path"]] = journal.host.read_text(entry["path"])
        except OSError as exc:
            state[entry["path"]] = f"<unreadable: {exc}>"
    return state


class RunSession:
    """Runs one configured tuning run on the host and reports an exit code."""

    def __init__(
        self,
        components: Components,
        run_dir: str | Path,
        *,
        run_name: str,
        params: Mapping[str, Any],
        tags: Mapping[str, str],
        resolved_config: str,
        tracker_factory: Optional[Callable[[], MlflowTracker]] = None,
        probes: Optional[list[Any]] = None,
    ) -> None:
        self.c = components
        self.run_dir = Path(run_dir)
        self.run_name = run_name
        self.params = params
        self.tags = dict(tags)
        self.resolved_config = resolved_config
        self.tracker_factory = tracker_factory
        self.tracker: Optional[MlflowTracker] = None
        self.probes = probes or []
        self.engine: Optional[Engine] = None
        self.report: Optional[dict[str, Any]] = None
        self.status = "FAILED"

    def run(self) -> int:
        """0 on success, 1 on failure; the host is restored in both cases."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "config_resolved.yaml").write_text(self.resolved_config, encoding="utf-8")
        lock = HostLock(lock_dir_for(self.c.host.is_real, self.c.state_dir))
        code = 1
        with interrupts_raise():
            try:
                lock.acquire()
                code = self._run_locked()
            except RunInterrupted as exc:
                log.error("interrupted by %s; host restored", signal.Signals(exc.signum).name)
            except KeyboardInterrupt:
                log.error("interrupted by SIGINT; host restored")
            except SemaTuneError as exc:
                log.error("%s", exc)
                code = exc.exit_code
            finally:
                lock.release()
        return code

    def _start_tracking(self) -> MlflowTracker:
        assert self.tracker_factory is not None
        tracker = self.tracker_factory()
        tracker.start(self.run_name, self.params, self.tags, self.c.space)
        return tracker

    def _run_locked(self) -> int:
        journal = HostJournal(self.c.state_dir, self.c.host)
        history = HistoryWriter(self.run_dir / "history.jsonl")
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sematune-tracking")
        tracking: Optional[Future[MlflowTracker]] = None
        try:
            restore_stale_journal(self.c.state_dir, self.run_dir)
            journal.capture(self.c.space, run=self.run_name)
            write_json(host_state(journal), self.run_dir / "host_state_before.json")
            # MLflow's import and store set-up take seconds: overlap them with the target's preparation.
            tracking = pool.submit(self._start_tracking) if self.tracker_factory else None
            target = self.c.target
            target.results_dir = self.run_dir / "target"
            target.space = self.c.space
            if not target.pre_execute():
                raise TargetError(f"{type(target).__name__}.pre_execute() returned False")
            if tracking is not None:
                self.tracker = tracking.result()
            self._set_target_tags()
            loop = self.c.settings.loop
            extra_baselines = (loop.tuning_windows - 1) // loop.baseline_every if loop.baseline_every else 0
            total = loop.dry_run_windows or (1 + loop.tuning_windows + loop.stable_windows + extra_baselines)
            with RunProgress(total, self.c.objective.metric) as progress:
                self.engine = Engine(
                    space=self.c.space,
                    target=target,
                    tuner=self.c.tuner,
                    objective=self.c.objective,
                    constraint=self.c.settings.constraint,
                    settings=loop,
                    history=history,
                    tracker=self.tracker,
                    probes=self.probes,
                    progress=progress,
                )
                self.engine.run()
            self.status = "FINISHED"
            return 0
        except Exception as exc:
            if not isinstance(exc, SemaTuneError):
                log.exception("run failed")
                raise SemaTuneError(f"{type(exc).__name__}: {exc}") from exc
            raise
        except BaseException:
            self.status = "KILLED"
            raise
        finally:
            with shielded("restoring the host"):
                history.close()
                self._cleanup_target()
                if journal.data is not None:  # the host first; tracking may be slow or unreachable
                    self.report = journal.restore()
                    write_json(self.report, self.run_dir / "restoration_report.json")
                    write_json(host_state(journal), self.run_dir / "host_state_after.json")
                    self._log_restore()
                if tracking is not None and self.tracker is None:
                    try:  # a run that failed during preparation still closes its MLflow run
                        self.tracker = tracking.result()
                    except Exception as exc:
                        log.error("MLflow tracking could not start: %s", exc)
                pool.shutdown(wait=False)
                self._close_tracking()

    def _cleanup_target(self) -> None:
        try:
            self.c.target.cleanup()
        except Exception:
            log.exception("target cleanup failed")
        for closable in (self.c.tuner, *self.probes):
            try:
                close = getattr(closable, "close", None)
                if close is not None:
                    close()
            except Exception:
                log.exception("closing %s failed", type(closable).__name__)

    def _log_restore(self) -> None:
        assert self.report is not None
        ok = self.report["restore_status"] == "PASS" and self.report["verify_status"] == "PASS"
        (log.info if ok else log.error)(
            "host restore %s: %d of %d files written back, bytes %s",
            "PASS" if ok else "FAILED", self.report["restored_count"], self.report["control_count"],
            self.report["verify_status"],
        )
        if not ok:
            self.status = "FAILED"

    def _set_target_tags(self) -> None:
        facts = self.c.target.describe()
        if self.tracker is not None and facts:
            self.tracker.set_tags({f"target.{k}": v for k, v in facts.items()})

    def _close_tracking(self) -> None:
        records = self.engine.records if self.engine else []
        if records:
            write_window_table(records, self.run_dir / "windows.csv")
            try:
                plot_objective_per_window(
                    records, self.run_dir / "objective_per_window.png", self.c.objective.metric, self.c.objective.goal
                )
            except Exception as exc:
                log.warning("plot failed: %s", exc)
        summary = self.summary()
        write_json(summary, self.run_dir / "summary.json")
        if self.tracker is None:
            return
        try:
            self.tracker.set_tags({"status": self.status, **{f"summary.{k}": v for k, v in summary.items()
                                                             if not isinstance(v, dict)}})
            for name in ("config_resolved.yaml", "history.jsonl", "windows.csv", "objective_per_window.png",
                         "restoration_report.json", "stale_restoration_report.json", "host_state_before.json",
                         "host_state_after.json", "summary.json"):
                self.tracker.log_artifact(self.run_dir / name)
            self.tracker.finish(self.status)
        except Exception as exc:
            log.error("closing the MLflow run failed (files are in %s): %s", self.run_dir, exc)

    def summary(self) -> dict[str, Any]:
        """Headline numbers of the run (also tags on the MLflow run)."""
        records = self.engine.records if self.engine else []
        best = self.engine.best() if self.engine else None
        baseline = next((r for r in records if r.phase == "baseline" and r.objective is not None), None)
        stable = [r.objective for r in records if r.phase == "stable" and r.status == "ok" and r.objective is not None]
        out: dict[str, Any] = {
            "status": self.status,
            "windows": len(records),
            "failed_windows": sum(r.status == "failed" for r in records),
            "idle_windows": sum(r.status == "idle" for r in records),
            "objective_metric": self.c.objective.metric,
            "goal": self.c.objective.goal,
            "baseline_objective": baseline.objective if baseline else None,
            "best_objective": best.objective if best else None,
            "best_window": best.window if best else None,
            "stable_mean_objective": sum(stable) / len(stable) if stable else None,
            "restore": (self.report or {}).get("verify_status", "n/a"),
        }
        if self.engine and self.engine.guard_stop:
            out["guard_stop"] = self.engine.guard_stop
        if self.c.settings.loop.dry_run_windows:
            out["aa_noise"] = guards.aa_noise(records)
        if self.engine and self.engine.frozen:
            out["best_configuration"] = self.engine.frozen
        elif best is not None:
            out["best_configuration"] = best.applied
        return out


def run_tags(components: Components, choices: Mapping[str, str]) -> dict[str, str]:
    """Tags for the MLflow run: what ran where."""
    from sematune import __version__

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "target": choices.get("target", type(components.target).__name__),
        "tuner": choices.get("tuner", type(components.tuner).__name__),
        "osparam_set": choices.get("osparam", ""),
        "knobs": ",".join(components.space.names),
        "seed": str(components.settings.seed),
        "objective": f"{components.objective.metric} ({components.objective.goal})",
        "host": platform.node(),
        "kernel": platform.release(),
        "cpu": cpu,
        "host_root": str(components.host.root),
        "sematune_version": __version__,
        "python": platform.python_version(),
        "knob_space": json.dumps(components.space.describe(), default=str)[:5000],
    }
