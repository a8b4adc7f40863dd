"""Shared pieces of the safety matrix: tree snapshots and a small knob space on a sandbox."""

from __future__ import annotations

from pathlib import Path

from sematune.osparams import Host, ParameterSpace, Sysctl, SysfsChoice

#: SemaTune's own state inside a tree (lock, journal), which is not "the host".
STATE_PREFIX = "var/lib/sematune"


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of a host tree (SemaTune's state dir aside), as bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not str(p.relative_to(root)).startswith(STATE_PREFIX)}


def small_space(host: Host) -> ParameterSpace:
    return ParameterSpace([
        Sysctl("vm_swappiness", host=host, key="vm.swappiness", low=0, high=100),
        Sysctl("vm_dirty_ratio", host=host, key="vm.dirty_ratio", low=1, high=80),
        SysfsChoice("thp_enabled", host=host, path="/sys/kernel/mm/transparent_hugepage/enabled"),
        SysfsChoice("thp_defrag", host=host, path="/sys/kernel/mm/transparent_hugepage/defrag"),
    ])
