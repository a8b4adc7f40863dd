"""The only door to host files: path mapping under ``host_root``, the write allow-list, raw I/O.

Every knob reads and writes through a :class:`Host`. Paths are given as they are on a real
host (``/proc/sys/vm/swappiness``) and mapped under ``host_root``, so the whole knob layer can
run against a directory tree. Writes are plain ``open(...).write`` calls — never a shell — and
only to resolved paths that match the allow-list.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fnmatch
import os
import re
from pathlib import Path, PurePosixPath

from sematune.errors import ConfigError, HostSafetyError
from sematune.validate import require

def default_allowed_paths() -> tuple[str, ...]:
    """The built-in allow-list: the union of the knob families' ``allowed_paths``."""
    from sematune.osparams.families import DEFAULT_ALLOWED_PATHS  # the families import this module

    return DEFAULT_ALLOWED_PATHS


def _emulate_choice_file(path: Path, data: bytes) -> bytes:
    try:
        current = path.read_text()
    except (OSError, UnicodeDecodeError):
        return data
    if "[" not in current:
        return data
    plain = current.replace("[", "").replace("]", "")
    chosen = data.decode(errors="replace").strip()
    if chosen not in plain.split():
        return data
    return re.sub(rf"(?<!\S){re.escape(chosen)}(?!\S)", f"[{chosen}]", plain, count=1).encode()


class Host:
    """Maps host paths under ``root`` and guards every write with the allow-list."""

    def __init__(self, root: str | os.PathLike[str] = "/", allowed_paths: tuple[str, ...] | list[str] | None = None) -> None:
        root_path = Path(root).expanduser()
        if not root_path.is_absolute():
            root_path = Path.cwd() / root_path
        require("host_root", root_path.is_dir(),
                f"{str(root)!r} is not a directory (create one with "
                f"`python -m sematune.osparams.sandbox {root}`)")
        self.root = Path(os.path.realpath(root_path))
        self._real = self.root == Path("/")
        self._prefix = "" if self._real else str(self.root)
        #: host path → resolved local path, for paths already checked against the allow-list.
        self._checked: dict[str, str] = {}
        self.allowed_paths = tuple(allowed_paths) if allowed_paths else default_allowed_paths()
        for pattern in self.allowed_paths:
            require("host.allowed_paths", pattern.startswith("/") and ".." not in PurePosixPath(pattern).parts,
                    f"{pattern!r} must be an absolute pattern without '..'")

    @property
    def is_real(self) -> bool:
        """True when this is the real host (``host_root=/``)."""
        return self._real

    def __repr__(self) -> str:
        return f"Host(root={str(self.root)!r})"

    # -- path mapping ------------------------------------------------------------------------
    def path(self, host_path: str | PurePosixPath) -> Path:
        """The local path of a host path (no resolution, no checks)."""
        return Path(self._local(str(host_path)))

    def _local(self, text: str) -> str:
        if not text.startswith("/"):
            raise HostSafetyError(f"host path {text!r} is not absolute")
        if ".." in text.split("/"):
            raise HostSafetyError(f"host path {text!r} contains '..'")
        return self._prefix + text

    def host_path(self, local: Path) -> str:
        """Inverse of :meth:`path` for a path inside the root."""
        if self.is_real:
            return str(local)
        rel = Path(local).relative_to(self.root)
        return "/" + rel.as_posix()

    def exists(self, host_path: str) -> bool:
        return os.path.exists(self._local(host_path))

    def glob(self, pattern: str) -> list[str]:
        """Host paths matching a glob pattern, sorted."""
        local = self.path(pattern)
        base = Path(local.anchor)
        rel = local.relative_to(base).as_posix()
        return sorted(self.host_path(p) for p in base.glob(rel))

    def resolve_for_write(self, host_path: str) -> Path:
        """Resolve symlinks and check the result stays under the root and is allow-listed."""
        return Path(self._resolve_for_write(host_path))

    def _resolve_for_write(self, host_path: str) -> str:
        cached = self._checked.get(host_path)
        if cached is not None:
            return cached
        resolved = Path(os.path.realpath(self._local(host_path)))
        if not self.is_real and self.root not in resolved.parents and resolved != self.root:
            raise HostSafetyError(f"{host_path} resolves outside host_root ({resolved})")
        resolved_host = self.host_path(resolved)
        if not any(fnmatch.fnmatchcase(resolved_host, pat) for pat in self.allowed_paths):
            raise HostSafetyError(f"refusing to write {host_path} (resolves to {resolved_host}): not on the allow-list")
        self._checked[host_path] = str(resolved)
        return str(resolved)

    def check_allowed(self, host_path: str) -> None:
        """Raise :class:`ConfigError` when a knob's file could never be written."""
        try:
            self.resolve_for_write(host_path)
        except HostSafetyError as exc:
            raise ConfigError("host.allowed_paths", str(exc)) from None

    # -- raw I/O ----------------------------------------------------------------------------
    def read_bytes(self, host_path: str) -> bytes:
        with open(self._local(host_path), "rb", buffering=0) as fh:
            return fh.read()

    def read_text(self, host_path: str) -> str:
        return self.read_bytes(host_path).decode("utf-8", "replace")

    def write_bytes(self, host_path: str, data: bytes) -> None:
        """Write ``data`` in one ``write`` call, as ``echo > file`` would, without a shell.

        On a ``host_root`` tree a bracketed choice file (``a [b] c``) behaves like sysfs: writing
        one of its words moves the brackets instead of replacing the text.
        """
        target = self._resolve_for_write(host_path)
        if not self.is_real:
            data = _emulate_choice_file(Path(target), data)
        # Never O_TRUNC: procfs/sysfs take one write whole, and a kill between a truncate and the
        # write would leave an empty knob file. A tree's plain file is cut to length afterwards.
        fd = os.open(target, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(errno.EIO, f"short write to {host_path}: {written}/{len(data)} bytes")
            if not self.is_real:
                os.ftruncate(fd, len(data))
        finally:
            os.close(fd)

    def writable(self, host_path: str) -> bool:
        return os.access(self._local(host_path), os.W_OK)

    # -- mounts -------------------------------------------------------------------------------
    def is_mounted(self, fstype: str, target: str) -> bool:
        """True when ``fstype`` is mounted at ``target`` (always true on a ``host_root`` tree)."""
        if not self.is_real:
            return True
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as fh:
            return any(f.split()[1:3] == [target, fstype] for f in fh if len(f.split()) > 2)

    def mount(self, fstype: str, target: str) -> None:
        """Mount ``fstype`` at ``target`` (a pseudo file system such as debugfs; real host only).

        Only the journal calls this, after recording the mount point, so restore unmounts it.
        """
        if _libc().mount(fstype.encode(), target.encode(), fstype.encode(), 0, None) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"mounting {fstype} on {target} failed: {os.strerror(err)}")

    def unmount(self, target: str) -> None:
        if _libc().umount2(target.encode(), 0) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"umount {target}: {os.strerror(err)}")


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
