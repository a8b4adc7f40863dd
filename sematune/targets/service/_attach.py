"""Which processes are the service: ``pids``, a ``pidfile``, a ``cgroup`` or a systemd ``unit``.

Resolved again at every window, so a service that restarted (new pid, same pidfile or unit) is
followed. Only read: SemaTune never signals these processes.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any, Optional, Sequence

import psutil
from pydantic import BaseModel, ConfigDict

from sematune.errors import TargetError

CGROUP_ROOT = Path("/sys/fs/cgroup")


class Attach(BaseModel):
    """``target.attach``: any combination; the union of what they name is the service."""

    model_config = ConfigDict(extra="forbid")

    pids: list[int] = []
    pidfile: Optional[str] = None
    cgroup: Optional[str] = None
    unit: Optional[str] = None

    @property
    def empty(self) -> bool:
        return not (self.pids or self.pidfile or self.cgroup or self.unit)

    def resolve(self) -> list[int]:
        """Live PIDs of the service and their descendants (an error when a named source yields none)."""
        roots: list[int] = [p for p in self.pids if psutil.pid_exists(p)]
        if self.pids and not roots:
            raise TargetError(f"attach.pids: none of {self.pids} is running")
        if self.pidfile:
            roots.append(_read_pidfile(self.pidfile))
        if self.cgroup:
            roots.extend(_cgroup_pids(_cgroup_dir(self.cgroup), "attach.cgroup"))
        if self.unit:
            roots.extend(_cgroup_pids(_unit_cgroup(self.unit), f"attach.unit {self.unit}"))
        return _with_descendants(roots)

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v}


def _read_pidfile(path: str) -> int:
    try:
        pid = int(Path(path).read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError) as exc:
        raise TargetError(f"attach.pidfile {path}: no pid in it ({exc})") from None
    if not psutil.pid_exists(pid):
        raise TargetError(f"attach.pidfile {path}: pid {pid} is not running")
    return pid


def _cgroup_dir(spec: str) -> Path:
    """``spec`` under /sys/fs/cgroup: cgroup v2 first, then v1's systemd and unified hierarchies."""
    path = Path(spec)
    if path.is_absolute() and path.is_relative_to(CGROUP_ROOT):
        return path
    candidates = [CGROUP_ROOT / sub / spec.lstrip("/") for sub in ("", "systemd", "unified")]
    return next((c for c in candidates if (c / "cgroup.procs").is_file()), candidates[0])


def _cgroup_pids(directory: Path, what: str) -> list[int]:
    """Every pid in the cgroup and its sub-cgroups (cgroup v2 ``cgroup.procs``)."""
    pids: list[int] = []
    if not (directory / "cgroup.procs").is_file():
        raise TargetError(f"{what}: {directory} is not a cgroup (no cgroup.procs)")
    for procs in directory.rglob("cgroup.procs"):
        try:
            pids.extend(int(line) for line in procs.read_text().split())
        except (OSError, ValueError):
            continue
    if not pids:
        raise TargetError(f"{what}: no process in {directory}")
    return pids


def _unit_cgroup(unit: str) -> Path:
    systemctl = shutil.which("systemctl")
    if systemctl is None:
        raise TargetError(f"attach.unit {unit}: systemctl is not available; give attach.cgroup instead")
    done = subprocess.run([systemctl, "show", "--property=ControlGroup", "--value", unit],
                          capture_output=True, text=True, timeout=10)
    group = done.stdout.strip()
    if done.returncode != 0 or not group:
        raise TargetError(f"attach.unit {unit}: systemd knows no running unit by that name")
    return _cgroup_dir(group)


def _with_descendants(roots: Sequence[int]) -> list[int]:
    out: dict[int, None] = {}
    for pid in roots:
        out[pid] = None
        try:
            for child in psutil.Process(pid).children(recursive=True):
                out[child.pid] = None
        except psutil.Error:
            continue
    return list(out)
