"""Bad configurations: exit 2, exactly one stderr line naming the key, the host tree untouched.

The corpus (``badconfig_cases.py``) runs through the real CLI entry point, all cases in one
child process so Hydra and the imports start once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.safety._helpers import snapshot
from tests.safety.badconfig_cases import CASES

BASE = ["experiment=quick", "target=synthetic", "tuner=random", "tracking.enabled=false", "probes=false"]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, host_snapshot: Path) -> tuple[list[dict], bool, Path]:
    import shutil

    work = tmp_path_factory.mktemp("badcfg")
    tree = work / "host"
    shutil.copytree(host_snapshot, tree, symlinks=True)
    before = snapshot(tree)
    cases = [[*BASE, f"host_root={tree}", *overrides] for _, overrides in CASES]
    (work / "cases.json").write_text(json.dumps(cases))
    env = {**os.environ, "SEMATUNE_STATE_DIR": str(work / "state"),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-m", "tests.safety._badconfig_driver", str(work / "cases.json"),
                    str(work / "results.json")], cwd=work, env=env, check=True, timeout=900)
    return json.loads((work / "results.json").read_text()), snapshot(tree) == before, work


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 75


@pytest.mark.parametrize("index", range(len(CASES)), ids=[" ".join(o)[:60] for _, o in CASES])
def test_bad_config(results: tuple[list[dict], bool, Path], index: int) -> None:
    key, overrides = CASES[index]
    result = results[0][index]
    assert result["code"] == 2, result
    assert len(result["stderr"]) == 1, result["stderr"]
    line = result["stderr"][0]
    assert key in line, line
    assert "Traceback" not in line and not line.rstrip().endswith(":"), line


def test_host_tree_untouched_and_no_journal_left(results: tuple[list[dict], bool, Path]) -> None:
    _, untouched, work = results
    assert untouched
    assert not (work / "state" / "journal.json").exists()
