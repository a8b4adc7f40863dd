"""Child processes for targets: argv only (never a shell), own process group, timeouts, group kill.

Every launched workload or server goes through :class:`ChildProcess` (long-lived servers) or
:func:`run_command` (one bounded run). Each child starts in its own session, so stopping it
signals its whole process group (helpers it forked die too); with ``die_with_parent`` (started
from the main thread) the kernel sends it SIGTERM if SemaTune itself dies
(``PR_SET_PDEATHSIG``), so a killed run leaves no server behind. Any exception while
waiting — a timeout, SIGTERM turned into ``RunInterrupted``, Ctrl-C — stops the child before
it propagates.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Mapping, Optional, Sequence

from sematune.errors import TargetError

_PR_SET_PDEATHSIG = 1
try:  # resolved here, not in the child between fork and exec
    import ctypes

    _PRCTL: Any = ctypes.CDLL(None, use_errno=True).prctl
except (ImportError, OSError, AttributeError):  # not Linux/glibc: children simply outlive a killed parent
    _PRCTL = None


def require_binary(name: str, package: str) -> str:
    """Absolute path of ``name`` on PATH, or a :class:`TargetError` naming the Debian package."""
    path = shutil.which(name)
    if path is None:
        raise TargetError(f"`{name}` was not found on PATH; install it with `apt-get install {package}`")
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that was free a moment ago (bind to port 0 and release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def tail(path: Optional[Path], limit: int = 800) -> str:
    """The last ``limit`` characters of a text file ('' if it is missing), on one line."""
    if path is None:
        return ""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(fh.tell() - limit, 0))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def _child_preexec(parent: int, death_signal: Optional[int], extra: Optional[Callable[[], None]]) -> None:
    """In the child before exec: get ``death_signal`` when the parent dies (and catch a parent
    already gone), then run ``extra`` (e.g. CPU pinning). Keep it minimal: no locks, no logging."""
    if death_signal is not None:
        if _PRCTL is not None:
            _PRCTL(_PR_SET_PDEATHSIG, int(death_signal), 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)
    if extra is not None:
        extra()


class ChildProcess:
    """A started child in its own process group; :meth:`stop` ends the whole group.

    ``stdout``/``stderr`` are file paths (appended) or ``None`` (discarded). ``env`` is added to
    this process's environment, or replaces it with ``replace_env``. ``demote`` holds
    ``subprocess.Popen``'s ``user``/``group``/``extra_groups`` (start as another account when root);
    ``preexec`` runs in the child before exec; ``death_signal`` is what the child gets when
    SemaTune dies (SIGINT: PostgreSQL's fast shutdown).
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: str | os.PathLike[str] | None = None,
        env: Optional[Mapping[str, str]] = None,
        stdout: str | os.PathLike[str] | None = None,
        stderr: str | os.PathLike[str] | None = None,
        die_with_parent: bool = True,
        death_signal: int = signal.SIGTERM,
        replace_env: bool = False,
        demote: Optional[Mapping[str, Any]] = None,
        preexec: Optional[Callable[[], None]] = None,
    ) -> None:
        self.argv = [str(a) for a in argv]
        if not self.argv:
            raise TargetError("empty command line")
        self.stdout_path = Path(stdout) if stdout else None
        self.stderr_path = Path(stderr) if stderr else None
        self.started = time.monotonic()
        files: list[IO[bytes]] = []
        try:
            out = self._open(self.stdout_path, files)
            err = self._open(self.stderr_path, files) if self.stderr_path != self.stdout_path else out
            parent = os.getpid()
            # The kernel sends the signal when the *thread* that forked exits: only the main thread lives as
            # long as SemaTune, so children started from other threads do not get it.
            main = threading.current_thread() is threading.main_thread()
            sig = int(death_signal) if die_with_parent and main else None
            self.popen = subprocess.Popen(
                self.argv,
                cwd=str(cwd) if cwd else None,
                env=dict(env or {}) if replace_env else ({**os.environ, **dict(env)} if env else None),
                stdin=subprocess.DEVNULL,
                stdout=out if out is not None else subprocess.DEVNULL,
                stderr=err if err is not None else subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
                preexec_fn=(lambda: _child_preexec(parent, sig, preexec)) if sig or preexec else None,
                **dict(demote or {}),
            )
        except FileNotFoundError as exc:
            raise TargetError(f"cannot start {self.argv[0]!r}: {exc.strerror} (is it installed and on PATH?)") from None
        except PermissionError as exc:
            raise TargetError(f"cannot start {self.argv[0]!r}: {exc.strerror}") from None
        finally:
            for fh in files:
                fh.close()
        self.pid = self.popen.pid

    @staticmethod
    def _open(path: Optional[Path], files: list[IO[bytes]]) -> Optional[IO[bytes]]:
        if path is None:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "ab")
        files.append(fh)
        return fh

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def returncode(self) -> Optional[int]:
        return self.popen.poll()

    def wait(self, timeout: Optional[float] = None) -> int:
        """Wait for exit; on any exception (timeout, signal, Ctrl-C) stop the group and re-raise."""
        try:
            return self.popen.wait(timeout=timeout)
        except BaseException:
            self.stop(grace_s=1.0)
            raise

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the child alone (not its group), if it still runs."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                self.popen.send_signal(sig)

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def stop(self, grace_s: float = 5.0, sig: int = signal.SIGTERM) -> Optional[int]:
        """``sig`` to the group, SIGKILL after ``grace_s``; reap. Idempotent; returns the exit code."""
        if self.popen.poll() is None:
            self._signal_group(sig)
            try:
                self.popen.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.popen.wait(timeout=5.0)
        # Helpers the child forked into its group and left running (the leader is gone, the group is ours).
        self._signal_group(signal.SIGKILL)
        return self.popen.poll()


@dataclass
class Completed:
    """What one bounded run did (also written next to its output as ``command.json``)."""

    argv: list[str]
    returncode: Optional[int]
    wall_s: float
    timed_out: bool
    stdout_path: Optional[str] = None
    stderr_path: Optional[str] = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def stdout(self) -> str:
        return Path(self.stdout_path).read_text(encoding="utf-8", errors="replace") if self.stdout_path else ""

    def describe_failure(self) -> str:
        """One line: why it failed and the tail of its stderr (or stdout)."""
        what = "timed out" if self.timed_out else f"exited with code {self.returncode}"
        detail = tail(Path(self.stderr_path) if self.stderr_path else None) or tail(
            Path(self.stdout_path) if self.stdout_path else None
        )
        return f"`{' '.join(self.argv)}` {what}" + (f": {detail}" if detail else "")

    def save(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")


def run_command(
    argv: Sequence[str],
    *,
    timeout_s: float,
    cwd: str | os.PathLike[str] | None = None,
    env: Optional[Mapping[str, str]] = None,
    stdout: str | os.PathLike[str] | None = None,
    stderr: str | os.PathLike[str] | None = None,
    on_start: Optional[Any] = None,
    replace_env: bool = False,
    demote: Optional[Mapping[str, Any]] = None,
) -> Completed:
    """Run ``argv`` to completion or until ``timeout_s`` (then its group is killed).

    ``on_start(child)`` is called right after the start (e.g. to expose its pid to probes);
    ``replace_env`` and ``demote`` as for :class:`ChildProcess`.
    Never raises for a non-zero exit — check :attr:`Completed.ok`.
    """
    for path in (stdout, stderr):
        if path:
            Path(path).unlink(missing_ok=True)
    child = ChildProcess(argv, cwd=cwd, env=env, stdout=stdout, stderr=stderr, replace_env=replace_env, demote=demote)
    timed_out = False
    try:
        if on_start is not None:
            on_start(child)
        child.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        child.stop(grace_s=2.0)
    return Completed(
        argv=child.argv,
        returncode=child.returncode,
        wall_s=time.monotonic() - child.started,
        timed_out=timed_out,
        stdout_path=str(stdout) if stdout else None,
        stderr_path=str(stderr) if stderr else None,
    )
