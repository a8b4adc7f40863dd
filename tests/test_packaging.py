"""The wheel ships the config groups, so `python -m sematune` works from a non-editable install."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_contains_conf_and_runs(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(REPO)], check=True, timeout=300)
    wheel = next(tmp_path.glob("sematune-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "sematune/conf/config.yaml" in names
    assert "sematune/conf/osparam/vm_swappiness.yaml" in names
    assert "sematune/conf/hydra/job_logging/sematune.yaml" in names
    assert any(n.startswith("sematune/conf/target/") for n in names)
    assert "hydra_plugins/sematune_searchpath/__init__.py" in names  # the sematune.plugins search path
    assert "hydra_plugins/__init__.py" not in names  # a namespace package shared with other Hydra plugins
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    out = subprocess.run([sys.executable, "-m", "sematune", "--cfg", "job", "target=synthetic"], cwd=tmp_path,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, text=True, capture_output=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "SyntheticTarget" in out.stdout
    assert str(site) in subprocess.run(
        [sys.executable, "-c", "import sematune, sys; print(sematune.__file__)"], cwd=tmp_path,
        env={"PYTHONPATH": str(site)}, text=True, capture_output=True).stdout
