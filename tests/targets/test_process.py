"""The child-process helper's options the PostgreSQL cluster relies on (env, pre-exec, signals)."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from sematune.targets._process import ChildProcess, run_command


def test_replace_env_starts_the_child_with_exactly_that_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PGHOST", "elsewhere")
    out = tmp_path / "env.out"
    code = "import os; print(sorted(k for k in os.environ if k.startswith('PG') or k == 'ONLY'))"
    done = run_command([sys.executable, "-c", code], timeout_s=30, env={"ONLY": "1"}, replace_env=True, stdout=out)
    assert done.ok and out.read_text().strip() == "['ONLY']"
    done = run_command([sys.executable, "-c", code], timeout_s=30, env={"ONLY": "1"}, stdout=out)
    assert out.read_text().strip() == "['ONLY', 'PGHOST']"


def test_preexec_runs_in_the_child_before_exec(tmp_path: Path) -> None:
    out = tmp_path / "nice.out"
    done = run_command([sys.executable, "-c", "import os; print(os.nice(0))"], timeout_s=30, stdout=out)
    base = int(out.read_text())
    child = ChildProcess([sys.executable, "-c", "import os; print(os.nice(0))"], stdout=out,
                         preexec=lambda: os.nice(3))
    assert child.wait(timeout=30) == 0 and done.ok
    assert int(out.read_text().split()[-1]) == base + 3


def test_send_signal_reaches_the_leader_only_and_stop_ends_the_group(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    script = (
        "import os, signal, subprocess, sys, time\n"
        "helper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(ready)!r}, 'w').write(str(helper.pid))\n"
        "signal.signal(signal.SIGUSR1, lambda *a: sys.exit(7))\n"
        "time.sleep(60)\n"
    )
    child = ChildProcess([sys.executable, "-c", script], death_signal=signal.SIGINT)
    deadline = time.monotonic() + 30
    while not (ready.exists() and ready.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    helper = int(ready.read_text())
    child.send_signal(signal.SIGUSR1)
    assert child.wait(timeout=30) == 7
    os.kill(helper, 0)  # the leader's signal did not reach its helper…
    child.stop(grace_s=0.0)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # …but stop() kills what is left in the group
        try:
            os.kill(helper, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"helper {helper} survived stop()")
