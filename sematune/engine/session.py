"""A run's host-safe lifecycle: lock → stale restore → journal → loop → always restore.

Whatever ends the loop — normal end, a target error, an exception, SIGINT, SIGTERM or SIGHUP —
the ``finally`` block stops the target, restores every journaled file in reverse order,
verifies the bytes and writes the restoration report, then hands the outcome to the run's
recording (a :class:`RunRecording`, e.g. :class:`sematune.tracking.recorder.RunRecorder`).
"""

from __future__ import annotations

import logging
import signal
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Protocol

from sematune.components import Components
from sematune._pidlock import HostLock
from sematune.engine.journal import HostJournal, host_lock_dir, stale_state_dirs
from sematune.engine.loop import Engine, WindowTracker
from sematune.engine.progress import RunProgress
from sematune.engine.records import HistoryWriter
from sematune.engine.restore_report import RestoreReport
from sematune.engine.signals import interrupts_raise, shielded
from sematune.errors import HostSafetyError, RunInterrupted, SemaTuneError, TargetError
from sematune.tracking.artifacts import write_json
from sematune.tracking.mlflow_tracker import resolve_tracking_uri
from sematune.tracking.stale_runs import mark_open_runs

log = logging.getLogger(__name__)


def restore_stale_journal(components: Components, run_dir: Path, tracking_uri: Optional[str] = None) -> Optional[RestoreReport]:
    """Restore a journal a crashed run left for this host (in any state dir); raise if it cannot be.

    MLflow runs a killed process left RUNNING (in this run's store) are marked KILLED.
    """
    dirs = stale_state_dirs(components.host, components.state_dir)
    for state_dir in dirs:
        stale = HostJournal.load(state_dir, components.host)
        if stale is None:
            continue
        assert stale.data is not None
        log.warning("found a stale journal in %s from %s (pid %s); restoring the host first",
                    state_dir, stale.data.get("created_at"), stale.data.get("pid"))
        report = stale.restore()
        write_json(report.to_dict(), run_dir / "stale_restoration_report.json")
        if not report.ok:
            raise HostSafetyError(
                f"a stale journal in {state_dir} could not be restored; see {run_dir / 'stale_restoration_report.json'}"
            )
        mark_open_runs(dirs, tracking_uri)
        return report
    mark_open_runs(dirs, tracking_uri)
    return None


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


@dataclass
class RunOutcome:
    """How a run ended, for its recording: status, the loop (records, frozen configuration) and the
    restoration report (``None`` when nothing was journaled)."""

    status: str
    engine: Optional[Engine]
    restore_report: Optional[RestoreReport]


class RunRecording(WindowTracker, Protocol):
    """What the session needs from recording a run (files, MLflow); no host access."""

    def prepare(self) -> None:
        """Fast set-up before the host lock (the run directory)."""

    def open(self) -> None:
        """Slow set-up, run in a worker thread while the target prepares (an MLflow run)."""

    def describe_target(self, facts: Mapping[str, Any]) -> None: ...

    def close(self, outcome: RunOutcome) -> None:
        """Record how the run ended; called once, after the host is restored."""


class RunSession:
    """Runs one configured tuning run on the host and reports an exit code."""

    def __init__(
        self,
        components: Components,
        run_dir: str | Path,
        recording: RunRecording,
        *,
        run_name: str = "run",
        probes: Optional[list[Any]] = None,
    ) -> None:
        self.c = components
        self.run_dir = Path(run_dir)
        self.recording = recording
        self.run_name = run_name
        self.probes = probes or []
        self.engine: Optional[Engine] = None
        self.report: Optional[RestoreReport] = None
        self.status = "FAILED"

    def run(self) -> int:
        """0 on success, 1 on failure; the host is restored in both cases."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.recording.prepare()
        lock = HostLock(host_lock_dir(self.c.host))
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
            except SystemExit as exc:  # sys.exit() from a target or tuner is not a successful run
                log.error("a component called sys.exit(%r) mid-run; host restored", exc.code)
            finally:
                lock.release()
        return code

    def _tracking_uri(self) -> Optional[str]:
        tracking = self.c.settings.tracking
        return resolve_tracking_uri(tracking.tracking_uri) if tracking.enabled else None

    def _run_locked(self) -> int:
        journal = HostJournal(self.c.state_dir, self.c.host)
        history = HistoryWriter(self.run_dir / "history.jsonl")
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sematune-tracking")
        opening: Optional[Future[None]] = None
        try:
            restore_stale_journal(self.c, self.run_dir, self._tracking_uri())
            journal.capture(self.c.space, run=self.run_name)
            write_json(host_state(journal), self.run_dir / "host_state_before.json")
            # MLflow's import and store set-up take seconds: overlap them with the target's preparation.
            opening = pool.submit(self.recording.open)
            target = self.c.target
            target.results_dir = self.run_dir / "target"
            target.space = self.c.space
            self.c.tuner.results_dir = self.run_dir / "tuner"
            if not target.pre_execute():
                raise TargetError(f"{type(target).__name__}.pre_execute() returned False")
            opening.result()
            self.recording.describe_target(target.describe())
            loop = self.c.settings.loop
            total = loop.dry_run_windows or loop.planned_windows()
            with RunProgress(total, self.c.objective.metric) as progress:
                self.engine = Engine(
                    space=self.c.space,
                    target=target,
                    tuner=self.c.tuner,
                    objective=self.c.objective,
                    constraint=self.c.settings.constraint,
                    settings=loop,
                    history=history,
                    tracker=self.recording,
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
        except SystemExit:
            self.status = "FAILED"
            raise
        except BaseException:
            self.status = "KILLED"
            raise
        finally:
            with shielded("restoring the host") as received:
                history.close()
                self._cleanup_target()
                if journal.data is not None:  # the host first; tracking may be slow or unreachable
                    self.report = journal.restore()
                    write_json(self.report.to_dict(), self.run_dir / "restoration_report.json")
                    write_json(host_state(journal), self.run_dir / "host_state_after.json")
                    self._log_restore()
                if opening is not None:
                    try:  # a run that failed during preparation still closes its MLflow run
                        opening.result()
                    except Exception as exc:
                        log.error("recording could not start: %s", exc)
                pool.shutdown(wait=False)
                if received:  # a signal during the restore still ends the run as interrupted
                    self.status = "KILLED"
                self.recording.close(RunOutcome(self.status, self.engine, self.report))
                self._close(self.c.tuner)  # after the recording: it asks the tuner for its final facts
            if received:  # never swallowed: the run ends as interrupted, after the host is back
                log.error("signal %s arrived while restoring; the restore finished first", received[0])
                raise RunInterrupted(received[0])

    def _cleanup_target(self) -> None:
        try:
            self.c.target.cleanup()
        except Exception:
            log.exception("target cleanup failed")
        for probe in self.probes:
            self._close(probe)

    @staticmethod
    def _close(closable: object) -> None:
        try:
            close = getattr(closable, "close", None)
            if close is not None:
                close()
        except Exception:
            log.exception("closing %s failed", type(closable).__name__)

    def _log_restore(self) -> None:
        assert self.report is not None
        (log.info if self.report.ok else log.error)("%s", self.report.headline())
        if not self.report.ok:
            self.status = "FAILED"
