"""Mounting is a Host operation done by the journal: recorded before it happens, undone on restore.

The mount syscalls themselves need root on the real host (and would disturb it), so the Host here
records them; the journal on disk is real.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sematune.engine.journal import HostJournal
from sematune.osparams import Host, ParameterSpace, Sysctl


class RecordingHost(Host):
    def __init__(self, root: Path, journal: Path, fail: bool = False) -> None:
        super().__init__(root)
        self.journal_file, self.fail, self.calls = journal, fail, []

    def mount(self, fstype: str, target: str) -> None:
        self.calls.append(("mount", target, json.loads(self.journal_file.read_text())["mounts"]))
        if self.fail:
            raise OSError(1, "mounting refused")

    def unmount(self, target: str) -> None:
        self.calls.append(("unmount", target, None))


class NeedsDebugfs(Sysctl):
    def mounts(self) -> list[tuple[str, str]]:
        return [("debugfs", "/sys/kernel/debug")]


def _setup(tmp_path: Path, fail: bool = False) -> tuple[RecordingHost, HostJournal, ParameterSpace]:
    (tmp_path / "tree/proc/sys/vm").mkdir(parents=True)
    (tmp_path / "tree/proc/sys/vm/swappiness").write_text("60\n")
    host = RecordingHost(tmp_path / "tree", tmp_path / "state" / "journal.json", fail)
    space = ParameterSpace([NeedsDebugfs("vm_swappiness", key="vm.swappiness", low=0, high=100, host=host)])
    return host, HostJournal(tmp_path / "state", host), space


def test_the_journal_records_a_mount_before_making_it(tmp_path: Path) -> None:
    host, journal, space = _setup(tmp_path)
    journal.capture(space)
    assert host.calls == [("mount", "/sys/kernel/debug", ["/sys/kernel/debug"])]
    assert json.loads(journal.path.read_text())["mounts"] == ["/sys/kernel/debug"]
    report = journal.restore()
    # The journal's mount list is untrusted input: restore unmounts only on the real host, never
    # because a tree's journal names a mount point.
    assert [c[0] for c in host.calls] == ["mount"]
    assert report.ok and report.unmounted == []


def test_a_failed_mount_is_not_left_in_the_journal(tmp_path: Path) -> None:
    host, journal, space = _setup(tmp_path, fail=True)
    with pytest.raises(OSError, match="mounting refused"):
        journal.capture(space)
    assert json.loads(journal.path.read_text())["mounts"] == []
    journal.restore()
    assert [c[0] for c in host.calls] == ["mount"]


def test_no_engine_module_imports_knob_family_globals() -> None:
    engine = Path(__file__).resolve().parents[2] / "sematune" / "engine"
    for module in engine.glob("*.py"):
        text = module.read_text()
        for family in ("sched_debugfs", "sysctl", "sysfs", "block_queue", "cpufreq", "cpuidle", "module_param"):
            assert f"sematune.osparams.{family} import" not in text, f"{module.name} imports {family}"
