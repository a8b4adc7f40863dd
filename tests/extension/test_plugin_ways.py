"""A plugin package outside SemaTune runs through the real CLI each way a Hydra user brings configs.

Ways: ``--config-dir``, ``hydra.searchpath=[file://…]``, ``hydra.searchpath=[pkg://…]`` and a
pip-installed package whose ``sematune.plugins`` entry point adds its configs by itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.extension.plugin_package import KNOB_FILE, KNOB_ORIGINAL, write_host_tree, write_plugin

RUN = ["osparam=[stplug_level]", "experiment=quick", "tracking.enabled=false", "probes=false"]


def _pythonpath(*extra: Path) -> dict[str, str]:
    parts = [str(p) for p in extra] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {"PYTHONPATH": os.pathsep.join(parts)}


def _check_run(out: subprocess.CompletedProcess, run_dir: Path, tree: Path, tuned: bool) -> None:
    assert out.returncode == 0, out.stderr[-3000:]
    records = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    applied = {r["applied"]["stplug_level"] for r in records if r["status"] == "ok"}
    assert applied == ({0, 5, 10} if tuned else {5})
    assert all(r["metrics"]["throughput"] == 50.0 * (1 + r["applied"]["stplug_level"])
               for r in records if r["status"] == "ok")
    assert (tree / KNOB_FILE).read_bytes() == KNOB_ORIGINAL


@pytest.fixture
def plugin(tmp_path: Path) -> Path:
    return write_plugin(tmp_path / "plugin-src")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return write_host_tree(tmp_path / "host")


@pytest.mark.parametrize("way", ["config-dir", "searchpath-file", "searchpath-pkg"])
def test_plugin_configs_from_a_directory_or_package(cli, plugin: Path, tree: Path, tmp_path: Path, way: str) -> None:
    conf = plugin / "stplugin" / "conf"
    bring = {
        "config-dir": [f"--config-dir={conf}"],
        "searchpath-file": [f"hydra.searchpath=[file://{conf}]"],
        "searchpath-pkg": ["hydra.searchpath=[pkg://stplugin.conf]"],
    }[way]
    run_dir = tmp_path / "run"
    out = cli(*bring, "target=stplug", "tuner=stplug_step", f"host_root={tree}", f"hydra.run.dir={run_dir}", *RUN,
              env=_pythonpath(plugin))
    _check_run(out, run_dir, tree, tuned=True)


@pytest.mark.slow
def test_pip_installed_plugin_is_found_by_its_entry_point(cli, plugin: Path, tree: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(plugin)], check=True, timeout=300, capture_output=True)
    assert (site / "stplugin" / "conf" / "target" / "stplug.yaml").exists()
    run_dir = tmp_path / "run"
    # No search path override: the entry point alone brings the plugin's configs.
    out = cli("target=stplug", "tuner=stplug_keep", f"host_root={tree}", f"hydra.run.dir={run_dir}", *RUN,
              env=_pythonpath(site))
    _check_run(out, run_dir, tree, tuned=False)
    info = cli("--info", "searchpath", env=_pythonpath(site))
    assert "sematune-plugin:stplugin" in info.stdout and "pkg://stplugin.conf" in info.stdout
