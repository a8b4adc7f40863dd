"""Metric keys (old → new), the run description and the terminal's closing block."""

from __future__ import annotations

import pytest

from sematune.tracking.closing import WIDTH, closing_block
from sematune.tracking.description import run_description, verdict_line
from sematune.tracking.keys import find_key, modern_key, modern_metrics

VERDICT = {"metric": "throughput", "goal": "maximize", "frozen": "tuned", "reason": "CI above zero",
           "stable_mean": 1050.0, "defaults_mean": 1000.0, "gain": 0.05, "ci_low": 0.012, "ci_high": 0.088,
           "confidence": 0.95, "significant": True, "n_stable": 10, "n_defaults": 10, "noise_cv": 0.021,
           "fallback": None}
SUMMARY = {"status": "FINISHED", "windows": 40, "failed_windows": 1, "objective_metric": "throughput",
           "goal": "maximize", "restore": "PASS", "restore_files": "6/10", "verdict": VERDICT,
           "frozen_diff": {"vm_dirty_ratio": {"default": 20, "chosen": 55},
                           "thp_enabled": {"default": "madvise", "chosen": "always"}},
           "best_tuning_objective": 1123.0, "best_tuning_window": 7}


@pytest.mark.parametrize("old,new", [
    ("knob.vm_swappiness", "knob/vm_swappiness"),
    ("system.cpu_user_pct", "host/cpu_user_pct"),
    ("time.measure_s", "time/measure_s"),
    ("tuner.confidence", "tuner/confidence"),
    ("tokens.cost_usd", "tokens/cost_usd"),
    ("window_ok", "window/ok"),
    ("n_rejected", "window/rejected"),
    ("throughput", "target/throughput"),
    ("tpmC", "target/tpmC"),
    ("objective", "objective"),
    ("phase", "phase"),
    ("knob/vm_swappiness", "knob/vm_swappiness"),
])
def test_old_keys_map_to_the_new_ones(old: str, new: str) -> None:
    assert modern_key(old) == new


def test_a_store_with_both_generations_reads_the_current_keys_first() -> None:
    assert modern_metrics({"knob.a": 1.0, "knob/a": 2.0, "system.x": 3.0}) == {"knob/a": 2.0, "host/x": 3.0}
    assert find_key(["objective", "knob.vm_dirty_ratio"], "knob/vm_dirty_ratio") == "knob.vm_dirty_ratio"
    assert find_key(["knob/vm_dirty_ratio"], "knob/vm_dirty_ratio") == "knob/vm_dirty_ratio"
    assert find_key(["objective"], "knob/vm_dirty_ratio") is None


def test_description_states_the_verdict_diff_restore_and_links() -> None:
    note = run_description(SUMMARY, experiment_id="3", run_id="r1",
                           plots=[("knobs_per_window.png", "Knob values per window")])
    assert "tuned configuration kept: throughput +5.0% vs defaults, 95% CI +1.2% … +8.8%" in note
    assert "(significant; stable mean" in note and "10 stable vs 10 default windows" in note
    assert "| `vm_dirty_ratio` | 20 | 55 |" in note and "| `thp_enabled` | madvise | always |" in note
    assert "Host restored: 6/10 files written back, bytes verified" in note
    assert "[Knob values per window](#/experiments/3/runs/r1/artifacts/knobs_per_window.png?workflowType=machine_learning)" in note
    assert "Best tuning-phase window: 1123 (window 7; one window, not the verdict)" in note


def test_description_without_a_verdict_or_after_a_failure() -> None:
    old = {"status": "FINISHED", "objective_metric": "tpmC", "goal": "maximize", "baseline_objective": 900.0,
           "stable_mean_objective": 950.0, "restore": "PASS"}
    assert verdict_line(old) == "tpmC (maximize): stable mean 950 vs baseline window 900 (no verdict recorded)"
    failed = {**SUMMARY, "status": "FAILED", "restore": "FAILED"}
    assert verdict_line(failed).startswith("run FAILED: no verdict")
    assert "HOST RESTORE FAILED" in run_description(failed)
    kept = {**SUMMARY, "verdict": {**VERDICT, "frozen": "defaults", "significant": False}, "frozen_diff": {}}
    assert verdict_line(kept).startswith("host defaults kept: throughput +5.0% vs defaults")
    assert "Same as the host defaults." in run_description(kept)


def test_closing_block_fits_80_columns_and_says_everything() -> None:
    block = closing_block(SUMMARY, run_dir="outputs/2026-01-01/10-00-00_bayesian_tpcc",
                          tracking_uri="sqlite:////srv/st/mlflow.db", experiment_id="1", run_id="0" * 32)
    lines = block.splitlines()
    # every line of text fits; a URL is one word kept whole, to be copied
    assert all(len(line) <= WIDTH for line in lines if not line.strip().startswith("http"))
    assert len(lines) <= 14  # a five-second read
    assert lines[1].startswith("Verdict: tuned configuration kept: throughput +5.0% vs defaults")
    assert "  vm_dirty_ratio: 20 → 55" in lines and "  thp_enabled: madvise → always" in lines
    assert "Host restored: 6/10 files written back, bytes verified" in lines
    assert "Outputs: outputs/2026-01-01/10-00-00_bayesian_tpcc" in lines
    assert "  mlflow ui --backend-store-uri sqlite:////srv/st/mlflow.db --port 5000" in lines
    assert f"  http://127.0.0.1:5000/#/experiments/1/runs/{'0' * 32}?workflowType=machine_learning" in lines


def test_closing_block_keeps_a_long_path_whole_and_caps_the_diff() -> None:
    many = {f"knob_{i}": {"default": i, "chosen": i + 1} for i in range(20)}
    path = "/very/" + "long/" * 20 + "run"
    block = closing_block({**SUMMARY, "frozen_diff": many}, run_dir=path, tracking_uri="http://mlflow:5000",
                          experiment_id="2", run_id="abc")
    lines = block.splitlines()
    assert "  " + path in lines and "  … and 8 more in summary.json" in lines
    assert "  http://mlflow:5000/#/experiments/2/runs/abc?workflowType=machine_learning" in lines
    assert all(len(line) <= WIDTH for line in lines if line != "  " + path)


@pytest.mark.parametrize("generation", ["dotted", "sectioned"])
def test_windows_rebuilt_from_metrics_of_either_key_generation(tmp_path, generation: str) -> None:
    """A run whose history.jsonl never reached the store is read from its metrics, old keys or new."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    from sematune.tracking.sweep_runs import records_from_metrics

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = client.create_run(client.create_experiment("e")).info.run_id
    knob, ok = ("knob.vm_dirty_ratio", "window_ok") if generation == "dotted" else ("knob/vm_dirty_ratio", "window/ok")
    rows = [(0, 0, 100.0, 20, 1), (1, 1, 90.0, 40, 1), (2, 1, 0.0, 60, 0), (3, 2, 120.0, 40, 1)]
    metrics = [Metric(k, v, 0, step) for step, phase, objective, dirty, good in rows
               for k, v in (("phase", phase), ("objective", objective), (knob, dirty), (ok, good))]
    client.log_batch(run_id, metrics=metrics)
    records = records_from_metrics(client, client.get_run(run_id))
    assert [(r.window, r.phase, r.status, r.objective, r.applied) for r in records] == [
        (0, "baseline", "ok", 100.0, {"vm_dirty_ratio": 20}), (1, "tuning", "ok", 90.0, {"vm_dirty_ratio": 40}),
        (2, "tuning", "failed", 0.0, {"vm_dirty_ratio": 60}), (3, "stable", "ok", 120.0, {"vm_dirty_ratio": 40})]


def test_params_tell_runs_apart_without_knob_descriptions(compose, sandbox) -> None:
    from omegaconf import OmegaConf

    from sematune.components import build_components
    from sematune.tracking.run_info import run_params

    cfg = compose(f"host_root={sandbox}", "target=synthetic", "tuner=random", "osparam=vm", "seed=7",
                  "osparam_skip_unavailable=true", "tracking.enabled=false")
    c = build_components(cfg)
    params = run_params(OmegaConf.to_container(cfg, resolve=True), c,
                        {"target": "synthetic", "tuner": "random", "osparam": "vm"})
    assert (params["target"], params["tuner"], params["osparam"], params["seed"]) == ("synthetic", "random", "vm", 7)
    assert params["loop.window_seconds"] == cfg.loop.window_seconds and params["knob_count"] == len(c.space)
    assert params["objective.metric"] == "throughput" and params["knobs"].split(",") == c.space.names
    assert not [k for k in params if k.startswith(("osparam.", "tracking.", "hydra.", "host."))]
    assert not any("description" in k for k in params)
    assert len(params) < 40
