"""The journal: fsynced before writes, byte-exact reverse-order restore, stale recovery, the lock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sematune.engine.journal import HostJournal
from sematune._pidlock import HostLock
from sematune.errors import HostLockedError, HostSafetyError
from sematune.osparams import BlockQueue, Host, ParameterSpace, Sysctl, SysfsChoice
from sematune.restore import main as restore_main


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the tree but SemaTune's own state (lock, journal) under var/lib/sematune."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not str(p.relative_to(root)).startswith("var/lib/sematune")}


def make_space(host: Host) -> ParameterSpace:
    params = [
        Sysctl("vm_dirty_ratio", host=host, key="vm.dirty_ratio", low=1, high=80, related=["vm.dirty_bytes"]),
        Sysctl("vm_swappiness", host=host, key="vm.swappiness", low=0, high=100),
        SysfsChoice("thp_enabled", host=host, path="/sys/kernel/mm/transparent_hugepage/enabled"),
    ]
    block = BlockQueue("blk_scheduler", host=host, attribute="scheduler", optional=True)
    if block.probe() is None:
        params.append(block)
    return ParameterSpace(params)


def test_capture_then_restore_is_byte_exact(sandbox: Path, tmp_path: Path) -> None:
    host = Host(sandbox)
    before = snapshot(sandbox)
    space = make_space(host)
    journal = HostJournal(tmp_path / "state", host)
    data = journal.capture(space)
    assert journal.path.exists()
    on_disk = json.loads(journal.path.read_text())
    assert on_disk["entries"] == data["entries"] and on_disk["host_root"] == str(sandbox)
    paths = [e["path"] for e in data["entries"]]
    assert paths.index("/proc/sys/vm/dirty_bytes") < paths.index("/proc/sys/vm/dirty_ratio")
    space.apply({"vm_dirty_ratio": 5, "vm_swappiness": 1, "thp_enabled": "never"})
    (sandbox / "proc/sys/vm/dirty_bytes").write_text("123456\n")  # a side effect
    assert snapshot(sandbox) != before
    report = journal.restore()
    assert report.ok
    assert report.restored_count == 4
    assert snapshot(sandbox) == before
    assert not journal.path.exists()


def test_capture_refuses_to_overwrite_a_journal(sandbox: Path, tmp_path: Path) -> None:
    host = Host(sandbox)
    HostJournal(tmp_path / "s", host).capture(make_space(host))
    with pytest.raises(HostSafetyError):
        HostJournal(tmp_path / "s", host).capture(make_space(host))


def test_failed_verification_keeps_the_journal(sandbox: Path, tmp_path: Path) -> None:
    host = Host(sandbox)
    space = make_space(host)
    journal = HostJournal(tmp_path / "s", host)
    journal.capture(space)
    target = sandbox / "proc/sys/vm/swappiness"
    target.unlink()
    target.mkdir()  # neither writable nor readable as a file any more
    report = journal.restore()
    assert report.restore_status == "FAIL" and report.write_errors[0]["knob"] == "vm_swappiness"
    assert journal.path.exists()
    target.rmdir()
    target.write_text("1\n")
    again = HostJournal.load(tmp_path / "s", host)
    assert again is not None and again.restore().ok
    assert not journal.path.exists()


def test_tampered_journal_cannot_write_outside_the_allow_list(sandbox: Path, tmp_path: Path) -> None:
    host = Host(sandbox)
    journal = HostJournal(tmp_path / "s", host)
    journal.capture(make_space(host))
    data = json.loads(journal.path.read_text())
    (sandbox / "etc").mkdir(exist_ok=True)
    (sandbox / "etc/passwd").write_text("root\n")
    data["entries"].append({**data["entries"][0], "path": "/etc/passwd"})
    journal.path.write_text(json.dumps(data))
    report = HostJournal.load(tmp_path / "s", host).restore()
    assert not report.ok and [e["path"] for e in report.refused] == ["/etc/passwd"]
    assert (sandbox / "etc/passwd").read_text() == "root\n"


def test_restore_command_puts_a_stale_journal_back(sandbox: Path, tmp_path: Path, capsys) -> None:
    host = Host(sandbox)
    before = snapshot(sandbox)
    space = make_space(host)
    HostJournal(tmp_path / "s", host).capture(space)
    space.apply({"vm_swappiness": 3, "thp_enabled": "always"})
    assert restore_main(["--host-root", str(sandbox), "--state-dir", str(tmp_path / "s"), "--report", str(tmp_path / "r.json")]) == 0
    assert "restore PASS" in capsys.readouterr().out
    assert snapshot(sandbox) == before
    assert json.loads((tmp_path / "r.json").read_text())["verify_status"] == "PASS"
    assert restore_main(["--host-root", str(sandbox), "--state-dir", str(tmp_path / "s")]) == 0
    assert "nothing to restore" in capsys.readouterr().out


def test_host_lock_refuses_a_second_holder(tmp_path: Path) -> None:
    with HostLock(tmp_path):
        with pytest.raises(HostLockedError) as err:
            HostLock(tmp_path).acquire()
        assert "another SemaTune run" in str(err.value)
    with HostLock(tmp_path):
        pass


def test_restore_retries_writes_that_depend_on_another_knob(sandbox: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Like nr_requests, which the kernel caps until the I/O scheduler is back: a second pass wins."""
    host = Host(sandbox)
    before = snapshot(sandbox)
    swappiness = Sysctl("vm_swappiness", host=host, key="vm.swappiness", low=0, high=100)
    ratio = Sysctl("vm_dirty_ratio", host=host, key="vm.dirty_ratio", low=1, high=80)
    space = ParameterSpace([swappiness, ratio])  # restore order: dirty_ratio, then swappiness
    journal = HostJournal(tmp_path / "s", host)
    journal.capture(space)
    space.apply({"vm_swappiness": 3, "vm_dirty_ratio": 50})
    real_write = Host.write_bytes

    def constrained(self: Host, path: str, data: bytes) -> None:
        if path.endswith("dirty_ratio") and (sandbox / "proc/sys/vm/swappiness").read_text().strip() == "3":
            raise OSError(22, "Invalid argument")
        real_write(self, path, data)

    monkeypatch.setattr(Host, "write_bytes", constrained)
    report = journal.restore()
    assert report.ok, report
    assert {e["knob"]: e["status"] for e in report.entries} == {"vm_swappiness": "restored",
                                                                   "vm_dirty_ratio": "restored"}
    assert snapshot(sandbox) == before
