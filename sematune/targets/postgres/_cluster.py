"""One PostgreSQL cluster in a directory: init, start on a free loopback port, stop — always.

The server is started directly (no ``pg_ctl``, no shell) through the targets' child-process
helper (:mod:`sematune.targets._process`): its own session, demoted to an unprivileged account
when we are root, SIGINT (fast shutdown) as its death signal so that it shuts down even if this
process is SIGKILLed. :meth:`stop` runs on :meth:`~PostgresTarget.cleanup`, and from ``atexit``
as a last resort. A file lock keeps two runs off one cluster.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import psutil

from sematune._pidlock import LockBusy, PidLock
from sematune.errors import TargetError
from sematune.targets._process import ChildProcess, free_port, run_command
from sematune.targets.postgres._install import PgInstall
from sematune.targets.postgres._user import RunUser

log = logging.getLogger(__name__)

#: Server settings unless the target's ``server_settings`` say otherwise.
DEFAULT_SETTINGS: dict[str, str] = {
    "shared_buffers": "256MB",
    "max_connections": "100",
}
#: Settings the manager owns (the loopback-only listener and the socket dir).
RESERVED_SETTINGS = {"listen_addresses", "port", "unix_socket_directories"}
_SUPERUSER = "postgres"
#: Shutdown signals in order (fast, immediate) and how long each gets before the next.
_SHUTDOWN = ((signal.SIGINT, 30.0), (signal.SIGQUIT, 10.0))


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    os.lchown(path, uid, gid)
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), uid, gid)


class PostgresCluster:
    """A data directory under ``root`` and the server process serving it."""

    def __init__(
        self,
        install: PgInstall,
        root: str | os.PathLike[str],
        *,
        user: Optional[RunUser] = None,
        settings: Optional[Mapping[str, Any]] = None,
        pin_preexec: Optional[Callable[[], None]] = None,
        start_timeout_s: float = 60.0,
    ) -> None:
        self.install = install
        self.root = Path(root)
        self.data_dir = self.root / "data"
        self.log_file = self.root / "postgres.log"
        self.user = user
        merged = {**DEFAULT_SETTINGS, **{str(k): str(v) for k, v in (settings or {}).items()}}
        reserved = sorted(RESERVED_SETTINGS & merged.keys())
        if reserved:
            raise TargetError(f"server_settings may not set {reserved}: the cluster manager owns them")
        self.settings = merged
        self.pin_preexec = pin_preexec
        self.start_timeout_s = start_timeout_s
        self.port: Optional[int] = None
        self.host = "127.0.0.1"
        self._proc: Optional[ChildProcess] = None
        self._lock = PidLock(self.root / "cluster.lock")
        self._sock_dir: Optional[Path] = None
        self._tmp_sock = False
        #: Whether this object ever launched the server (its log is then ours to keep).
        self.started = False

    # -- locking ------------------------------------------------------------------------------
    def acquire(self, timeout_s: float = 600.0) -> None:
        """Take the cluster's lock (waits up to ``timeout_s`` for another run to finish)."""
        try:
            self._lock.acquire(timeout_s)
        except LockBusy as busy:
            raise TargetError(
                f"the PostgreSQL cluster in {self.root} is in use by pid {busy.holder} (waited {timeout_s:.0f} s); "
                "wait for that run, or point target.cache_dir elsewhere"
            ) from None

    def release(self) -> None:
        self._lock.release()

    # -- process plumbing -----------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        return env

    def _demote(self) -> Optional[dict[str, Any]]:
        return self.user.popen_kwargs() if self.user else None

    def _own(self, path: Path) -> None:
        if self.user is not None:
            os.chown(path, self.user.uid, self.user.gid)

    # -- init -----------------------------------------------------------------------------------
    def initialized(self) -> bool:
        version = self.data_dir / "PG_VERSION"
        try:
            return version.read_text().strip() == str(self.install.major)
        except OSError:
            return False

    def init(self) -> None:
        """``initdb`` a fresh data dir (trust auth on loopback only, UTF8, C locale)."""
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        self.data_dir.mkdir(parents=True, mode=0o700)
        self._own(self.data_dir)
        cmd = [self.install.exe("initdb"), "-D", str(self.data_dir), "-U", _SUPERUSER, "--auth=trust",
               "-E", "UTF8", "--no-locale"]
        out = self.root / "initdb.log"
        done = run_command(cmd, timeout_s=300, cwd=self.root, env=self._env(), replace_env=True,
                           stdout=out, stderr=out, demote=self._demote())
        if not done.ok:
            raise TargetError(f"initdb failed: {done.describe_failure()}")

    def _fix_ownership(self) -> None:
        if self.user is not None and self.data_dir.stat().st_uid != self.user.uid:
            log.info("re-owning %s to %s", self.data_dir, self.user.name)
            _chown_tree(self.data_dir, self.user.uid, self.user.gid)

    # -- start/stop -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.alive

    @property
    def pid(self) -> Optional[int]:
        return self._proc.pid if self._proc is not None and self._proc.alive else None

    def start(self) -> None:
        """Init if needed and start the server; a broken cached cluster is rebuilt once."""
        if self.running:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        self._stop_stale()
        fresh = not self.initialized()
        if fresh:
            self.init()
        else:
            self._fix_ownership()
        try:
            self._start_server()
        except TargetError as exc:
            if fresh:
                raise
            log.warning("cached cluster in %s did not start (%s); re-initialising it", self.root, exc)
            self.init()
            self._start_server()

    def _socket_dir(self) -> Path:
        candidate = self.root / "sock"
        if len(str(candidate / ".s.PGSQL.65535")) < 100:
            candidate.mkdir(exist_ok=True)
            self._tmp_sock = False
        else:  # AF_UNIX paths are limited to 107 bytes
            candidate = Path(tempfile.mkdtemp(prefix="st-pg-"))
            self._tmp_sock = True
        self._own(candidate)
        return candidate

    def _start_server(self) -> None:
        self._sock_dir = self._socket_dir()
        last_error = ""
        for _ in range(3):  # the probed port may be taken before the server binds it
            self.port = free_port(self.host)
            cmd = [self.install.exe("postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                   "-k", str(self._sock_dir), "-c", f"listen_addresses={self.host}"]
            for key, value in self.settings.items():
                cmd += ["-c", f"{key}={value}"]
            self.log_file.unlink(missing_ok=True)
            self._proc = ChildProcess(
                cmd, cwd=self.root, env=self._env(), replace_env=True, stdout=self.log_file, stderr=self.log_file,
                death_signal=signal.SIGINT, demote=self._demote(), preexec=self.pin_preexec,
            )
            self.started = True
            atexit.register(self.stop)
            try:
                self._wait_ready()
                log.info("PostgreSQL %s (pid %d) listening on %s:%d, data %s", self.install.version,
                         self._proc.pid, self.host, self.port, self.data_dir)
                return
            except TargetError as exc:
                last_error = str(exc)
                self.stop()
                if "already in use" not in last_error:
                    break
        raise TargetError(last_error)

    def _log_tail(self, lines: int = 12) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _wait_ready(self) -> None:
        import psycopg

        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            if not self._proc.alive:
                raise TargetError(
                    f"PostgreSQL exited with code {self._proc.returncode} while starting; log {self.log_file}:\n"
                    + self._log_tail()
                )
            try:
                with psycopg.connect(self.conninfo(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise TargetError(
                        f"PostgreSQL did not accept connections within {self.start_timeout_s:.0f} s; log:\n"
                        + self._log_tail()
                    ) from None
                time.sleep(0.05)

    def _stop_stale(self) -> None:
        """A server a killed run left on this data dir (we hold the lock, so it is stale)."""
        pidfile = self.data_dir / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().split("\n", 1)[0])
            proc = psutil.Process(pid)
            if "postgres" not in proc.name() or str(self.data_dir) not in proc.cmdline():
                return
        except (OSError, ValueError, psutil.Error):
            return
        log.warning("stopping a stale PostgreSQL (pid %d) left on %s", pid, self.data_dir)
        self._terminate(proc)

    @staticmethod
    def _terminate(proc: psutil.Process) -> None:
        """A postmaster not started by us: fast shutdown, then immediate, then kill (and its backends)."""
        try:
            children = proc.children(recursive=True)
        except psutil.Error:
            children = []
        for sig, wait_s in (*_SHUTDOWN, (signal.SIGKILL, 10.0)):
            try:
                proc.send_signal(sig)
                proc.wait(timeout=wait_s)
                break
            except psutil.NoSuchProcess:
                break
            except psutil.TimeoutExpired:
                log.warning("PostgreSQL pid %d ignored signal %s", proc.pid, sig.name)
        for child in children:
            try:
                child.kill()
            except psutil.Error:
                pass

    @staticmethod
    def _shutdown(child: ChildProcess) -> None:
        """Our server: fast shutdown, then immediate, then SIGKILL to its group (backends included)."""
        for sig, wait_s in _SHUTDOWN:
            child.send_signal(sig)
            try:
                child.popen.wait(timeout=wait_s)
                break
            except subprocess.TimeoutExpired:
                log.warning("PostgreSQL pid %d ignored signal %s", child.pid, sig.name)
        child.stop(grace_s=0.0, sig=signal.SIGKILL)

    def stop(self) -> None:
        """Stop the server (idempotent); nothing of it is left running afterwards."""
        atexit.unregister(self.stop)
        proc, self._proc = self._proc, None
        if proc is not None:
            self._shutdown(proc)
        if self._tmp_sock and self._sock_dir is not None:
            shutil.rmtree(self._sock_dir, ignore_errors=True)
            self._sock_dir = None

    # -- clients --------------------------------------------------------------------------------
    def processes(self) -> list[int]:
        """The postmaster's PID and its children's (backends, checkpointer, walwriter…)."""
        pid = self.pid
        if pid is None:
            return []
        try:
            return [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]
        except psutil.Error:
            return [pid]

    def conninfo(self, dbname: str = "postgres") -> str:
        if self.port is None:
            raise TargetError("the PostgreSQL server is not started")
        return f"host={self.host} port={self.port} user={_SUPERUSER} dbname={dbname}"

    def connect(self, dbname: str = "postgres", **kwargs: Any) -> Any:
        """An autocommit psycopg connection to ``dbname``."""
        import psycopg

        return psycopg.connect(self.conninfo(dbname), autocommit=True, **kwargs)

    def client_args(self, dbname: Optional[str] = None) -> list[str]:
        """``-h -p -U`` (and the database name last) for libpq command-line clients."""
        if self.port is None:
            raise TargetError("the PostgreSQL server is not started")
        args = ["-h", self.host, "-p", str(self.port), "-U", _SUPERUSER]
        return [*args, dbname] if dbname else args
