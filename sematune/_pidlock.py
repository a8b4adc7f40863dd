"""Exclusive ``flock`` locks that record their holder's pid (the host lock, a target's cluster lock).

It lives outside ``engine/`` so that targets can use it without importing the engine.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType
from typing import Optional

from sematune.errors import HostLockedError


class LockBusy(Exception):
    """The lock is held by another process (``holder`` is its pid as text)."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


class PidLock:
    """An exclusive ``flock`` on ``path``, released automatically if the process dies."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd: Optional[int] = None

    def acquire(self, timeout_s: float = 0.0) -> None:
        """Take the lock, waiting up to ``timeout_s``; raise :class:`LockBusy` otherwise."""
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                    os.close(fd)
                    raise LockBusy(holder) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.ftruncate(fd, 0)
            finally:
                os.close(fd)  # closing drops the flock


class HostLock(PidLock):
    """Held for a whole run: a second run on the same host is refused at once."""

    def __init__(self, lock_dir: str | os.PathLike[str]) -> None:
        super().__init__(Path(lock_dir) / "lock")

    def acquire(self, timeout_s: float = 0.0) -> None:
        try:
            super().acquire(timeout_s)
        except LockBusy as busy:
            raise HostLockedError(
                f"another SemaTune run (pid {busy.holder}) is tuning this host (lock {self.path}); "
                "wait for it to finish"
            ) from None

    def __enter__(self) -> "HostLock":
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
