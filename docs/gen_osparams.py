"""Regenerate docs/osparams.md from conf/osparam/*.yaml: ``python docs/gen_osparams.py``.

The reference table is built from the knob classes and YAML files themselves (TuneD-style), so it
cannot drift; ``tests/test_docs.py`` fails when the committed file is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from hydra.utils import get_class

from sematune.osparams.families import INTERFACES

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
Knob names carry their family's prefix (`vm_`, `net_`, `sched_`, `cpu_`, `blk_`) because they are MLflow
keys; the names before 0.2 (`somaxconn`, `thp_enabled`, the `block` set…) still work for one release,
with a warning (`sematune/conf/renamed.py`).

## Interfaces
"""

FAMILIES = ["vm", "net", "sched", "cpu", "blk"]


def domain_text(spec: dict) -> str:
    if "choices" in spec:
        return ", ".join(f"`{c}`" for c in spec["choices"])
    if "low" in spec:
        text = f"{spec['low']} – {spec['high']}"
        if spec.get("log"):
            text += " (log)"
        return text
    return "from the host"


def render() -> str:
    knobs: dict[str, dict] = {}
    sets: dict[str, list[str]] = {}
    for path in sorted(CONF.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        if "defaults" in data:
            sets[path.stem] = list(data["defaults"])
        else:
            knobs[path.stem] = data
    lines = [INTRO, "| interface | class | files |", "|---|---|---|"]
    for interface in dict.fromkeys(cls.interface for cls in INTERFACES):
        classes = [cls for cls in INTERFACES if cls.interface == interface]
        names = ", ".join(f"`{cls.__name__}`" for cls in classes)
        files = "; ".join(dict.fromkeys(cls.doc_files for cls in classes))
        lines.append(f"| {interface} | {names} | {files} |")
    lines += ["", "## Named sets", "",
              "Sets are the files named `default`, `all` and one per family (the knob name's prefix); every other",
              "file in `conf/osparam/` is one knob. `all` is the union of the family sets.", "",
              "| set | knobs |", "|---|---|"]
    for name in ["default", *FAMILIES, "all"]:
        members = sets.get(name, [])
        if name == "all":
            members = [m for family in FAMILIES for m in sets[family]]
        shown = "every knob below (the family sets)" if name == "all" else ", ".join(f"`{m}`" for m in members)
        lines.append(f"| `{name}` ({len(members)}) | {shown} |")
    lines += ["", "## Knobs", "", "| knob | interface | file / key | kind | scope | domain | unit | notes |",
              "|---|---|---|---|---|---|---|---|"]
    for name, spec in knobs.items():
        cls = get_class(spec["_target_"])
        notes = spec.get("description", "")
        extra = []
        if spec.get("optional"):
            extra.append("optional")
        if spec.get("related"):
            extra.append("also restores " + ", ".join(f"`{r}`" for r in spec["related"]))
        if extra:
            notes += " (" + "; ".join(extra) + ")"
        lines.append(f"| `{name}` | {cls.interface} | {cls.doc_location(spec)} | {cls.doc_kind(spec)} | {cls.scope} | "
                     f"{domain_text(spec)} | {spec.get('unit', '')} | {notes} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
