"""Shared pieces of the safety matrix: tree snapshots and a small knob space on a sandbox."""

from __future__ import annotations

import functools
from pathlib import Path

from sematune.components import Components
from sematune.engine.session import RunSession
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


def recorded_session(components: Components, run_dir: Path, name: str, tracking_uri: str) -> RunSession:
    """A run session recorded like the CLI's (run files + a synchronous MLflow run named ``name``)."""
    from sematune.tracking.mlflow_tracker import MlflowTracker
    from sematune.tracking.recorder import RunRecorder

    recorder = RunRecorder(components, run_dir, run_name=name, params={"case": name}, tags={},
                           resolved_config="case: fault\n",
                           tracker_factory=functools.partial(MlflowTracker, tracking_uri, "faults",
                                                             async_logging=False))
    return RunSession(components, run_dir, recorder, run_name=name)
