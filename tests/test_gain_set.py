"""Gain presets pin their target/tuner and sweep grid; gain_set.py tables from a real (tiny) sweep."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PRESETS = ("gain_pgbench_select", "gain_redis", "gain_tpcc_low", "gain_tpcc", "gain_pgbench_sync")
sys.path.insert(0, str(ROOT / "benchmarks"))


@pytest.mark.parametrize("preset", PRESETS)
def test_gain_preset_pins_target_tuner_and_the_sweep_grid(preset: str) -> None:
    data = yaml.safe_load((ROOT / "sematune" / "conf" / "experiment" / f"{preset}.yaml").read_text())
    overrides = [d for d in data["defaults"] if isinstance(d, dict)]
    assert {next(iter(d)) for d in overrides} == {"override /target", "override /tuner"}
    assert data["hydra"]["sweeper"]["params"] == {"tuner": "fixed,random,bayesian,mlos,llm", "seed": "1,2,3"}
    candidates = yaml.safe_load((ROOT / "benchmarks" / "gain_candidates.yaml").read_text())
    assert candidates[preset], f"no limit candidates for {preset}"


def test_limit_analysis_pairs_each_candidate_with_its_adjacent_defaults() -> None:
    from gain_limit import DEFAULTS, analyse, make_schedule

    labels = [label for label, _ in make_schedule(["a", "b"], 2)]
    assert labels == [DEFAULTS, "a", DEFAULTS, "b", "a", DEFAULTS, "b", DEFAULTS]
    values = [100.0, 200.0, 100.0, 90.0, 220.0, 110.0, 99.0, 110.0]
    result = analyse(labels, values, "maximize")
    assert result["best"] == "a" and result["candidates"]["a"]["pairs"] == 2
    assert result["candidates"]["a"]["significant"] and not result["candidates"]["b"]["significant"]
    assert result["candidates"]["a"]["gain"] == pytest.approx(420 / 210 - 1)
    assert result["candidates"]["b"]["gain"] < 0


def test_results_tables_from_real_sweeps(cli, sandbox: Path, tmp_path: Path) -> None:
    """Two sweep dirs of one preset (e.g. a later ``tuner=llm`` sweep) make one table."""
    common = ["experiment=gain_redis", "target=synthetic", "loop.tuning_windows=3", "loop.stable_windows=2",
              "loop.window_seconds=0.05", "loop.settle_seconds=0",
              "probes=false",  # 50 ms windows on a busy host would all be contaminated (foreign CPU)
              f"host_root={sandbox}", "tracking.enabled=false"]
    first, second = tmp_path / "sweep", tmp_path / "sweep_more"
    out = cli("-m", *common, "tuner=fixed,random", "seed=1", f"hydra.sweep.dir={first}")
    assert out.returncode == 0, out.stderr[-2000:]
    out = cli("-m", *common, "tuner=random", "seed=2", f"hydra.sweep.dir={second}")
    assert out.returncode == 0, out.stderr[-2000:]
    results = tmp_path / "docs" / "results.md"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gain_set.py"), "--sweep", f"gain_redis={first}",
                           "--sweep", f"gain_redis={second}", "--results", str(results)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    text = results.read_text()
    assert "## gain_redis" in text and "Limit: not measured." in text and "Host load: not recorded" in text
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ") and "/1 |" in line
            or line.startswith("| ") and "/2 |" in line}
    assert set(rows) == {"fixed", "random"}
    assert " 1/1 " in rows["fixed"] and " 2/2 " in rows["random"]


def test_no_significant_candidate_leaves_the_defaults_as_the_limit() -> None:
    from gain_limit import analyse, make_schedule

    labels = [label for label, _ in make_schedule(["a"], 3)]
    result = analyse(labels, [100.0, 104.0, 95.0, 100.0, 100.0, 102.0], "maximize")
    assert result["best"] is None and result["best_point"] == "a"


def test_a_presets_sweeper_grid_is_part_of_the_expected_jobs() -> None:
    from sematune.tracking.sweep_runs import expand_sweep, with_sweeper_params

    grid = {"tuner": "fixed,random,bayesian,mlos,llm", "seed": "1,2,3"}
    overrides = with_sweeper_params(["experiment=gain_redis", "seed=1"], grid)  # typed keys win
    assert overrides == ["tuner=fixed,random,bayesian,mlos,llm", "experiment=gain_redis", "seed=1"]
    jobs = expand_sweep(overrides)
    assert jobs is not None and len(jobs) == 5 and all("seed=1" in job for job in jobs)
