"""OS parameters: one module per Linux interface, a :class:`ParameterSpace` to hold a run's set.

Knob classes are instantiated from ``conf/osparam/<name>.yaml`` (one file per knob); the
engine passes the :class:`Host` so the same classes work on the real host or a ``host_root``
tree.
"""

from sematune.osparams.base import Domain, OsParam, Value
from sematune.osparams.block_queue import BlockQueue
from sematune.osparams.cpufreq import Cpufreq
from sematune.osparams.cpuidle import CpuidleGovernor, CpuidleStateLimit
from sematune.osparams.families import DEFAULT_ALLOWED_PATHS
from sematune.osparams.host import Host
from sematune.osparams.module_param import ModuleParam
from sematune.osparams.sched_debugfs import SchedDebugfs
from sematune.osparams.space import ApplyResult, ParameterSpace
from sematune.osparams.sysctl import Sysctl
from sematune.osparams.sysfs import SysfsChoice, SysfsValue

__all__ = [
    "ApplyResult",
    "BlockQueue",
    "Cpufreq",
    "CpuidleGovernor",
    "CpuidleStateLimit",
    "DEFAULT_ALLOWED_PATHS",
    "Domain",
    "Host",
    "ModuleParam",
    "OsParam",
    "ParameterSpace",
    "SchedDebugfs",
    "Sysctl",
    "SysfsChoice",
    "SysfsValue",
    "Value",
]
