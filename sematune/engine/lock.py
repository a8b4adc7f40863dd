"""One SemaTune run per host: an exclusive ``flock`` on ``<state_dir>/lock``."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType
from typing import Optional

from sematune.errors import HostLockedError


#: Where the lock of the real host lives, whatever state dir a run uses.
REAL_HOST_LOCK_DIR = "/run/sematune"


def lock_dir_for(host_is_real: bool, state_dir: str | os.PathLike[str]) -> Path:
    """The real host has one lock for every run; a ``host_root`` tree is locked in its state dir."""
    return Path(REAL_HOST_LOCK_DIR) if host_is_real else Path(state_dir)


class HostLock:
    """Held for the whole run; released automatically if the process dies."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.path = Path(state_dir) / "lock"
        self._fd: Optional[int] = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise HostLockedError(
                f"another SemaTune run (pid {holder}) is tuning this host (lock {self.path}); "
                "wait for it to finish"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "HostLock":
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
