"""Regenerate docs/osparams.md from conf/osparam/*.yaml: ``python docs/gen_osparams.py``.

The reference table is built from the knob classes and YAML files themselves (TuneD-style), so it
cannot drift; ``tests/test_docs.py`` fails when the committed file is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from hydra.utils import get_class

CONF = Path(__file__).resolve().parents[1] / "sematune" / "conf" / "osparam"
OUT = Path(__file__).resolve().parent / "osparams.md"

INTRO = """# OS parameter reference

Every knob SemaTune can tune, generated from `conf/osparam/*.yaml` by `python docs/gen_osparams.py`
(do not edit by hand). A knob is one YAML file with a `_target_` class (one module per Linux
interface in `sematune/osparams/`) and its metadata: kind (continuous range, optionally log-scale,
or categorical choices), scope (`global`, `per_core`: every selected CPU, `per_device`: every real
block device) and a conservative domain. Override any field from the command line, e.g.
`osparam.vm_swappiness.high=80`, or pick knobs with `osparam=[vm_swappiness,vm_thp_enabled]`.

Before a run, every knob is probed: a knob this kernel or CPU lacks (CFS names on an EEVDF kernel,
cpufreq on a VM, debugfs under lockdown, a read-only module parameter) is reported in one error
before anything is written, or dropped with a warning when `osparam_skip_unavailable=true`.
*Optional* knobs (halt polling, block queues) are dropped with a warning on hosts that lack them.
Choices are limited to what the host offers (governors, congestion controls, I/O schedulers).
Files that a write changes as a side effect ("also restores") are journaled and restored too.

## Interfaces

| interface | class | files |
|---|---|---|
| sysctl | `Sysctl` | `/proc/sys/<key with dots as slashes>` |
| sysfs | `SysfsValue` | one sysfs file with a number or word |
| sysfs_choice | `SysfsChoice` | a sysfs file listing options with the selected one in brackets |
| block_queue | `BlockQueue` | `/sys/block/<dev>/queue/<attribute>` of every real disk; the I/O scheduler's `iosched/*` tunables are restored with it |
| sched_debugfs | `SchedDebugfs` | `/sys/kernel/debug/sched/<first existing name>`; debugfs is mounted when needed and unmounted on restore |
| cpufreq | `Cpufreq` | `cpufreq/policy*/<attribute>` of policies covering the selected CPUs |
| cpuidle | `CpuidleGovernor`, `CpuidleStateLimit` | `cpuidle/current_governor`; `cpuN/cpuidle/stateK/disable` for all states deeper than the chosen one |
| module_param | `ModuleParam` | `/sys/module/<module>/parameters/<parameter>` |
"""


def domain_text(spec: dict) -> str:
    if "choices" in spec:
        return ", ".join(f"`{c}`" for c in spec["choices"])
    if "low" in spec:
        text = f"{spec['low']} – {spec['high']}"
        if spec.get("log"):
            text += " (log)"
        return text
    return "from the host"


def files_text(spec: dict) -> str:
    if "key" in spec:
        return f"`{spec['key']}`"
    if "path" in spec:
        return f"`{spec['path']}`"
    if "attribute" in spec:
        return f"queue/`{spec['attribute']}`" if spec["_target_"].endswith("BlockQueue") else f"`{spec['attribute']}`"
    if "names" in spec:
        return " or ".join(f"`sched/{n}`" for n in spec["names"])
    if "module" in spec:
        return f"`{spec['module']}.{spec['parameter']}`"
    return "cpuidle"


def render() -> str:
    knobs: dict[str, dict] = {}
    sets: dict[str, list[str]] = {}
    for path in sorted(CONF.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        if "defaults" in data:
            sets[path.stem] = list(data["defaults"])
        else:
            knobs[path.stem] = data
    lines = [INTRO, "## Named sets", "", "| set | knobs |", "|---|---|"]
    for name in ["default", "vm", "net", "sched", "cpu", "block", "all"]:
        members = sets.get(name, [])
        shown = "every knob below" if name == "all" else ", ".join(f"`{m}`" for m in members)
        lines.append(f"| `{name}` ({len(members)}) | {shown} |")
    lines += ["", "## Knobs", "", "| knob | interface | file / key | kind | scope | domain | unit | notes |",
              "|---|---|---|---|---|---|---|---|"]
    for name, spec in knobs.items():
        cls = get_class(spec["_target_"])
        kind = "categorical" if "choices" in spec or cls.__name__ in ("SysfsChoice", "CpuidleGovernor",
                                                                        "CpuidleStateLimit") else "continuous"
        if cls.__name__ == "BlockQueue" and spec.get("attribute") == "scheduler":
            kind = "categorical"
        notes = spec.get("description", "")
        extra = []
        if spec.get("optional"):
            extra.append("optional")
        if spec.get("related"):
            extra.append("also restores " + ", ".join(f"`{r}`" for r in spec["related"]))
        if extra:
            notes += " (" + "; ".join(extra) + ")"
        lines.append(f"| `{name}` | {cls.interface} | {files_text(spec)} | {kind} | {cls.scope} | "
                     f"{domain_text(spec)} | {spec.get('unit', '')} | {notes} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
