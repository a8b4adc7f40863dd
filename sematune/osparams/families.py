"""The knob families SemaTune ships, gathered in one place.

Each family (one class per Linux interface) says on its class which host paths it may write,
which files a sandbox copies and how docs/osparams.md renders it; this module only collects them.
"""

from __future__ import annotations

from sematune.osparams.base import OsParam
from sematune.osparams.block_queue import BlockQueue
from sematune.osparams.cpufreq import Cpufreq
from sematune.osparams.cpuidle import CpuidleGovernor, CpuidleStateLimit
from sematune.osparams.module_param import ModuleParam
from sematune.osparams.sched_debugfs import SchedDebugfs
from sematune.osparams.sysctl import Sysctl
from sematune.osparams.sysfs import SysfsChoice, SysfsValue

#: Every shipped knob class, in the order docs/osparams.md lists them.
INTERFACES: tuple[type[OsParam], ...] = (
    Sysctl, SysfsValue, SysfsChoice, BlockQueue, SchedDebugfs, Cpufreq, CpuidleGovernor, CpuidleStateLimit,
    ModuleParam,
)


def _union(attribute: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p for cls in INTERFACES for p in getattr(cls, attribute)))


#: Host paths (after resolving symlinks) that SemaTune may ever write: the families' union.
DEFAULT_ALLOWED_PATHS: tuple[str, ...] = _union("allowed_paths")

#: Host path globs copied into a sandbox: every file a shipped knob reads or writes.
SANDBOX_GLOBS: tuple[str, ...] = _union("sandbox_globs")

#: Mount points a shipped knob family may ask the journal to mount (and restore to unmount).
MOUNT_POINTS: tuple[str, ...] = _union("mount_points")
