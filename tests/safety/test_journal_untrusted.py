"""The journal is untrusted input: host from the caller, entries re-checked, corruption in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sematune._pidlock import HostLock
from sematune.engine.journal import (HostJournal, JournalCorrupt, canonical_state_dir, host_lock_dir,
                                     stale_state_dirs)
from sematune.errors import HostLockedError, HostSafetyError
from sematune.osparams import Host
from sematune.restore import main as restore_main
from tests.safety._helpers import small_space, snapshot


def _captured(sandbox: Path, state: Path) -> tuple[Host, HostJournal]:
    host = Host(sandbox)
    journal = HostJournal(state, host)
    journal.capture(small_space(host))
    return host, journal


def test_a_planted_journal_for_another_root_is_refused(sandbox: Path, tmp_path: Path, capsys) -> None:
    """The probe's attack: a journal under <tree>/var/lib/sematune naming host_root=/ and a file outside."""
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    host, journal = _captured(sandbox, canonical_state_dir(Host(sandbox)))
    data = json.loads(journal.path.read_text())
    data["host_root"] = "/"
    data["allowed_paths"] = ["/*"]
    data["entries"].append({**data["entries"][0], "path": str(outside)})
    journal.path.write_text(json.dumps(data))
    with pytest.raises(HostSafetyError, match="written for host_root '/'"):
        HostJournal.load(journal.state_dir, host)
    assert restore_main(["--host-root", str(sandbox)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "refusing to restore" in err[0]
    assert outside.read_text() == "precious\n" and journal.path.exists()


def test_entries_outside_the_allow_list_are_refused_and_reported(sandbox: Path, tmp_path: Path, capsys) -> None:
    host, journal = _captured(sandbox, tmp_path / "s")
    before = snapshot(sandbox)
    data = json.loads(journal.path.read_text())
    (sandbox / "etc").mkdir(exist_ok=True)
    (sandbox / "etc/shadow").write_text("x\n")
    data["allowed_paths"] = ["/etc/*"]  # the journal's own list is ignored
    data["entries"].append({**data["entries"][0], "path": "/etc/shadow"})
    journal.path.write_text(json.dumps(data))
    assert restore_main(["--host-root", str(sandbox), "--state-dir", str(tmp_path / "s")]) == 1
    out = capsys.readouterr()
    assert "1 journal entries refused" in out.out and "/etc/shadow" in out.err
    assert (sandbox / "etc/shadow").read_text() == "x\n"
    assert {k: v for k, v in snapshot(sandbox).items() if k != "etc/shadow"} == before


@pytest.mark.parametrize("damage", ["truncated", "not-json", "wrong-schema", "bad-base64", "bad-checksum",
                                    "entries-not-a-list", "empty"])
def test_a_corrupt_journal_is_one_line_and_can_be_discarded(sandbox: Path, tmp_path: Path, capsys,
                                                            damage: str) -> None:
    host, journal = _captured(sandbox, tmp_path / "s")
    text = journal.path.read_text()
    data = json.loads(text)
    broken = {
        "truncated": text[: len(text) // 2],
        "not-json": "\x00\xff garbage",
        "wrong-schema": json.dumps({**data, "schema_version": 99}),
        "bad-base64": json.dumps({**data, "entries": [{**data["entries"][0], "original": "!!!"}]}),
        "bad-checksum": json.dumps({**data, "entries": [{**data["entries"][0], "sha256": "0" * 64}]}),
        "entries-not-a-list": json.dumps({**data, "entries": {"a": 1}}),
        "empty": "",
    }[damage]
    journal.path.write_text(broken)
    with pytest.raises(JournalCorrupt):
        HostJournal.load(tmp_path / "s", host)
    args = ["--host-root", str(sandbox), "--state-dir", str(tmp_path / "s")]
    assert restore_main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "corrupt" in err[0] and "--discard" in err[0], err
    assert restore_main([*args, "--discard"]) == 0  # what the line says to do works
    assert restore_main(args) == 0 and "nothing to restore" in capsys.readouterr().out


def test_one_lock_per_host_whatever_the_state_dir(sandbox: Path, tmp_path: Path) -> None:
    host = Host(sandbox)
    with HostLock(host_lock_dir(host)):
        with pytest.raises(HostLockedError):
            HostLock(host_lock_dir(Host(str(sandbox) + "/"))).acquire()
    assert host_lock_dir(Host("/")) == Path("/run/sematune")


def test_a_crashed_runs_journal_is_found_from_another_state_dir(sandbox: Path, tmp_path: Path) -> None:
    """After a kill -9, a run with a different state dir must restore, not record the dead run's values."""
    before = snapshot(sandbox)
    host, journal = _captured(sandbox, tmp_path / "first")
    small_space(host).apply({"vm_swappiness": 7, "thp_enabled": "never"})
    found = [d for d in stale_state_dirs(host, tmp_path / "second") if HostJournal.load(d, host)]
    assert found == [tmp_path / "first"] or [p.resolve() for p in found] == [(tmp_path / "first").resolve()]
    report = HostJournal.load(found[0], host).restore()
    assert report.ok and snapshot(sandbox) == before
    assert not (host_lock_dir(host) / "journal-location").exists()


def test_writes_never_truncate_first_and_choice_files_compare_the_selection(sandbox: Path, tmp_path: Path) -> None:
    host, journal = _captured(sandbox, tmp_path / "s")
    defrag = sandbox / "sys/kernel/mm/transparent_hugepage/defrag"
    original = defrag.read_bytes()
    small_space(host).apply({"thp_defrag": "never"})
    assert b"[never]" in defrag.read_bytes()
    # The kernel renders choice files itself: the same selection with other spacing is the same state.
    selected = original[original.index(b"[") + 1: original.index(b"]")]
    defrag.write_bytes(original.replace(b" ", b"  ") if b"  " not in original else original)
    report = journal.restore()
    assert report.ok, report.problems()
    assert selected in defrag.read_bytes()
