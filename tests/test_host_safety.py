"""Whatever ends a run, the host comes back byte for byte: normal end, exception, SIGTERM, SIGINT,
SIGKILL + ``python -m sematune.restore``, and a stale journal at the next start.

Each scenario runs on a sandbox tree; the ``host_mutation`` variants do the same on the real host.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sematune.osparams.host import Host
from sematune.osparams.sched_debugfs import DEBUGFS
from tests.conftest import REPO, cli_args
from tests.instrumented import read_write_log

KNOBS = ("osparam=[vm_swappiness,vm_dirty_ratio,vm_thp_enabled,vm_thp_defrag,blk_read_ahead_kb,"
         "net_tcp_congestion_control]")
CHANGES = "+tuner.parameters={vm_swappiness: 7, vm_dirty_ratio: 33, vm_thp_enabled: never, vm_thp_defrag: defer}"
FILES = [
    "/proc/sys/vm/swappiness", "/proc/sys/vm/dirty_ratio", "/proc/sys/vm/dirty_bytes",
    "/sys/kernel/mm/transparent_hugepage/enabled", "/sys/kernel/mm/transparent_hugepage/defrag",
    "/proc/sys/net/ipv4/tcp_congestion_control", "/proc/sys/net/ipv4/tcp_allowed_congestion_control",
]


def state(root: Path) -> dict[str, bytes]:
    host = Host(root)
    files = FILES + [p for p in host.glob("/sys/block/*/queue/read_ahead_kb")]
    return {f: host.read_bytes(f) for f in files if host.exists(f)}


@pytest.fixture(params=["sandbox", pytest.param("real", marks=pytest.mark.host_mutation)])
def host_root(request, tmp_path: Path) -> Path:
    if request.param == "real":
        return Path("/")
    return request.getfixturevalue("sandbox")


def start(cwd: Path, state_dir: Path, root: Path, *extra: str, module: str = "sematune",
          env: dict[str, str] | None = None) -> subprocess.Popen:
    """``python -m <module>`` (``tests.instrumented`` adds a write spy / failures, see there)."""
    env = {**os.environ, "SEMATUNE_STATE_DIR": str(state_dir), "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])), **(env or {})}
    args = [sys.executable, "-m", module, *cli_args([
        "target=synthetic", "tuner=fixed", KNOBS, CHANGES, f"host_root={root}", "osparam_skip_unavailable=true",
        "loop.tuning_windows=3", "loop.stable_windows=0", "loop.settle_seconds=0", "loop.window_seconds=4",
        "tracking.enabled=false", *extra], module)]
    return subprocess.Popen(args, cwd=cwd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def wait_until_tuning(proc: subprocess.Popen, cwd: Path, root: Path, before: dict[str, bytes]) -> Path:
    """Wait for window 0 to be recorded and the tuning values to be on the host."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        runs = list((cwd / "outputs").glob("*/*/history.jsonl"))
        if runs and runs[0].read_text().strip() and state(root) != before:
            return runs[0].parent
        time.sleep(0.2)
    raise AssertionError("the run never reached its first tuning window")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_window_restores(host_root: Path, tmp_path: Path, sig: signal.Signals) -> None:
    before = state(host_root)
    proc = start(tmp_path, tmp_path / "state", host_root)
    run_dir = wait_until_tuning(proc, tmp_path, host_root, before)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, out
    assert state(host_root) == before
    assert f"interrupted by {sig.name}" in out
    report = json.loads((run_dir / "restoration_report.json").read_text())
    assert report["verify_status"] == "PASS" and report["restored_count"] >= 4
    assert not (tmp_path / "state" / "journal.json").exists()
    assert len((run_dir / "history.jsonl").read_text().splitlines()) == 1  # window 0 kept


def test_sigkill_then_restore_command(host_root: Path, tmp_path: Path) -> None:
    before = state(host_root)
    proc = start(tmp_path, tmp_path / "state", host_root)
    wait_until_tuning(proc, tmp_path, host_root, before)
    proc.kill()
    proc.communicate(timeout=60)
    assert state(host_root) != before
    assert (tmp_path / "state" / "journal.json").exists()
    env = {**os.environ, "SEMATUNE_STATE_DIR": str(tmp_path / "state")}
    out = subprocess.run([sys.executable, "-m", "sematune.restore", "--host-root", str(host_root)], env=env, text=True, capture_output=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "restore PASS" in out.stdout
    assert state(host_root) == before
    assert not (tmp_path / "state" / "journal.json").exists()


def test_stale_journal_is_restored_at_the_next_start(host_root: Path, tmp_path: Path) -> None:
    before = state(host_root)
    proc = start(tmp_path, tmp_path / "state", host_root)
    wait_until_tuning(proc, tmp_path, host_root, before)
    proc.kill()
    proc.communicate(timeout=60)
    (tmp_path / "again").mkdir()
    again = start(tmp_path / "again", tmp_path / "state", host_root, "loop.window_seconds=0.2")
    out, _ = again.communicate(timeout=180)
    assert again.returncode == 0, out
    assert "found a stale journal" in out
    stale = list((tmp_path / "again" / "outputs").glob("*/*/stale_restoration_report.json"))
    assert stale and json.loads(stale[0].read_text())["verify_status"] == "PASS"
    assert state(host_root) == before


@pytest.mark.parametrize("where", ["target", "tuner"])
def test_exception_after_knob_writes_restores(host_root: Path, tmp_path: Path, where: str) -> None:
    """Window 1 runs on the tuned values; in window 2 the target raises (a failed window → abort) or the
    tuner raises (the exception escapes the loop). Exit 1, and the tuned files are written back."""
    before = state(host_root)
    log = tmp_path / "writes.jsonl"
    proc = start(tmp_path, tmp_path / "state", host_root, "loop.window_seconds=0.1", "loop.max_consecutive_failures=1",
                 module="tests.instrumented",
                 env={"SEMATUNE_TEST_WRITE_LOG": str(log), "SEMATUNE_TEST_FAIL": f"{where}:2"})
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 1, out
    assert f"injected {where} failure in window 2" in out
    run_dir = next((tmp_path / "outputs").glob("*/*/history.jsonl")).parent
    statuses = [json.loads(line)["status"] for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert statuses[:2] == ["ok", "ok"]  # window 1 was measured on the written values
    swappiness = [w["data"] for w in read_write_log(log) if w["path"] == "/proc/sys/vm/swappiness"]
    assert swappiness[0] == "7" and swappiness[-1].encode() == before["/proc/sys/vm/swappiness"], swappiness
    assert "host restore PASS" in out
    assert state(host_root) == before


def test_second_concurrent_run_is_refused(sandbox: Path, tmp_path: Path) -> None:
    before = state(sandbox)
    first = start(tmp_path, tmp_path / "state", sandbox)
    wait_until_tuning(first, tmp_path, sandbox, before)
    (tmp_path / "second").mkdir()
    second = start(tmp_path / "second", tmp_path / "state", sandbox)
    out, _ = second.communicate(timeout=120)
    assert second.returncode == 1 and "another SemaTune run" in out
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=60)
    assert state(sandbox) == before


def test_random_over_every_knob_writes_only_the_declared_files(host_root: Path, tmp_path: Path, compose,
                                                               request: pytest.FixtureRequest) -> None:
    """A spy on ``Host.write_bytes`` (the single write path): the files written are exactly the files of
    the knobs the run changed (plus their journaled side-effect files when restoring), nothing else."""
    from sematune.components import build_components

    overrides = ["osparam=all", "osparam_skip_unavailable=true", f"host_root={host_root}", "tracking.enabled=false"]
    host = Host(host_root)
    if not host.is_mounted("debugfs", DEBUGFS):  # the sched knobs' files resolve only on a mounted debugfs
        host.mount("debugfs", DEBUGFS)  # (a run mounts it itself, after its journal exists, and unmounts it)
        request.addfinalizer(lambda: host.unmount(DEBUGFS))
    space = build_components(compose(*overrides, "target=synthetic", "tuner=random")).space
    journaled = {path for path, _ in space.journal_files()}
    before = {path: Host(host_root).read_bytes(path) for path in journaled}
    log = tmp_path / "writes.jsonl"
    env = {**os.environ, "SEMATUNE_STATE_DIR": str(tmp_path / "state"), "SEMATUNE_TEST_WRITE_LOG": str(log),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-m", "tests.instrumented", *overrides, "target=synthetic", "tuner=random",
                          "experiment=quick", "loop.window_seconds=0.2", "target.window_time_scale=0", "probes=false",
                          "seed=5"], cwd=tmp_path, env=env, text=True, capture_output=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "host restore PASS" in out.stderr
    records = [json.loads(line) for line in next((tmp_path / "outputs").glob("*/*/history.jsonl")).read_text().splitlines()]
    defaults = records[0]["applied"]
    changed = {name for r in records[1:] for name, value in r["requested"].items() if value != defaults.get(name)}
    assert len(changed) >= len(space) // 2, f"the random tuner moved only {sorted(changed)}"
    written = {w["path"] for w in read_write_log(log)}
    knob_files = {path for name in changed for path in space[name].files()}
    assert knob_files <= written, f"changed knobs whose files were never written: {sorted(knob_files - written)}"
    assert written <= journaled, f"files written that no knob declares: {sorted(written - journaled)}"
    related = {path for param in space for path in param.related_files()}
    assert written - knob_files <= related, f"files of unchanged knobs written: {sorted(written - knob_files - related)}"
    assert {path: Host(host_root).read_bytes(path) for path in journaled} == before
