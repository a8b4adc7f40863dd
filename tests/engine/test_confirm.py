"""Confirmation, the no-harm default, the growing-harm fallback and the verdict statistics."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from sematune.tracking.description import verdict_line
from sematune.engine.verdict import (
    block_gain, coefficient_of_variation, expanded_tail, growing_harm, min_blocks, t_quantile,
)
from sematune.targets.base import BenchmarkMetrics
from tests.engine.test_loop import FailingWindows, ScriptedTuner, components, engine_for

DIRTY_DEFAULT = 20  # vm_dirty_ratio in the sandbox tree


class ScriptedTarget:
    """The synthetic target (its files, its contract), with throughput scripted per window:
    ``level(vm_dirty_ratio, window)`` × (1 + 0.5% seeded noise)."""

    default_objective = ("throughput", "maximize")

    def __init__(self, inner: Any, level: Callable[[int, int], float]) -> None:
        self.inner, self.level = inner, level
        self.rng = np.random.default_rng(7)
        self.dirty = DIRTY_DEFAULT

    def on_configuration_applied(self, applied: dict[str, Any]) -> None:
        self.dirty = int(applied["vm_dirty_ratio"])
        self.inner.on_configuration_applied(applied)

    def execute_window(self, window: int, duration: float) -> BenchmarkMetrics:
        self.inner.execute_window(window, duration)  # writes windows/NNNN like a real target
        return BenchmarkMetrics(throughput=self.level(self.dirty, window) * (1 + self.rng.normal(0, 0.005)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def scripted(compose, sandbox: Path, level: Callable[[int, int], float], proposals: list[int]):
    c = components(compose, sandbox, "tuner=random")
    c.tuner = ScriptedTuner(c.tuner, [{"vm_dirty_ratio": d} for d in proposals])
    c.target = ScriptedTarget(c.target, level)
    return c


def test_confirmation_picks_the_truly_better_config_over_a_lucky_window(compose, sandbox: Path,
                                                                         tmp_path: Path) -> None:
    # dirty 40 is truly 10% worse but its one tuning window was lucky (2000); dirty 30 is truly 10% better
    def level(dirty: int, window: int) -> float:
        if dirty == 40:
            return 2000.0 if window <= 4 else 900.0
        return {30: 1100.0}.get(dirty, 1000.0)

    c = scripted(compose, sandbox, level, [40, 30, 20, 20])
    engine = engine_for(c, tmp_path, confirm_candidates=2, confirm_repeats=7, stable_windows=12,
                        stable_defaults_every=2)
    records = engine.run()
    assert engine.best_tuning().applied["vm_dirty_ratio"] == 40  # the lucky single window
    rows = {row["arm"]: row for row in engine.decision.candidates}
    assert rows["candidate-1"]["diff"] == {"vm_dirty_ratio": {"default": 20, "chosen": 40}}
    assert rows["candidate-1"]["tuning_mean"] == pytest.approx(2000, rel=0.02) and rows["candidate-1"]["gain"] < 0
    assert rows["candidate-2"]["gain"] == pytest.approx(0.10, abs=0.02)
    assert engine.decision.frozen == "tuned" and "candidate-2 beat the defaults" in engine.decision.reason
    assert all(r.applied["vm_dirty_ratio"] == 30 for r in records if r.arm == "frozen")
    verdict = engine.verdict()
    assert verdict["frozen"] == "tuned" and verdict["significant"] and verdict["fallback"] is None
    assert verdict["gain"] == pytest.approx(0.10, abs=0.02)
    assert 0 < verdict["ci_low"] <= verdict["gain"] <= verdict["ci_high"]
    assert (verdict["n_stable"], verdict["n_defaults"]) == (6, 6)
    assert verdict["noise_cv"] == pytest.approx(0.005, abs=0.005)
    line = verdict_line({"status": "FINISHED", "verdict": verdict})
    assert line.startswith("tuned configuration kept:") and "(significant;" in line
    assert "candidate-2 beat the defaults" in line and "A/A noise CV" in line


def test_defaults_frozen_when_no_candidate_is_significantly_better(compose, sandbox: Path, tmp_path: Path) -> None:
    # the real synthetic target (10% noise): vm_dirty_expire_centisecs is inert, so it cannot win
    c = components(compose, sandbox, "tuner=fixed", "+tuner.parameters={vm_dirty_expire_centisecs: 1500}")
    engine = engine_for(c, tmp_path, confirm_repeats=7, stable_windows=12, stable_defaults_every=2)
    records = engine.run()
    assert engine.decision.frozen == "defaults" and "does no harm by default" in engine.decision.reason
    assert engine.decision.candidates[0]["n"] == 7  # enough rounds to be significant, had it been better
    assert engine.frozen == engine.defaults
    assert all(r.applied == records[0].applied for r in records if r.phase == "stable")
    verdict = engine.verdict()
    assert verdict["frozen"] == "defaults" and verdict["reason"] == engine.decision.reason
    assert verdict["ci_low"] < 0 < verdict["ci_high"] and not verdict["significant"]  # an A/A comparison


def test_fixed_without_values_has_no_candidate_and_an_aa_verdict(compose, sandbox: Path, tmp_path: Path) -> None:
    c = components(compose, sandbox, "tuner=fixed")
    engine = engine_for(c, tmp_path, stable_windows=6, stable_defaults_every=2)
    records = engine.run()
    assert not [r for r in records if r.phase == "confirm"]  # nothing to confirm: no window spent on it
    assert len(records) == 1 + 4 + 6
    assert engine.decision.frozen == "defaults" and "no candidate differs from the defaults" in engine.decision.reason
    verdict = engine.verdict()
    assert (verdict["n_stable"], verdict["n_defaults"]) == (3, 3) and verdict["frozen"] == "defaults"
    assert verdict["gain"] is not None and verdict["noise_cv"] > 0


def test_growing_harm_falls_back_to_the_defaults(compose, sandbox: Path, tmp_path: Path) -> None:
    # dirty 30 wins confirmation (+10%) but degrades by 4% of the defaults per stable window (like THP compaction)
    first_stable = 1 + 4 + 2 * 6

    def level(dirty: int, window: int) -> float:
        if dirty != 30:
            return 1000.0
        return 1100.0 - 40.0 * max(0, window - first_stable)

    c = scripted(compose, sandbox, level, [30, 30, 30, 30])
    engine = engine_for(c, tmp_path, confirm_candidates=1, confirm_repeats=6, stable_windows=30,
                        stable_defaults_every=2, fallback_min_defaults=3)
    records = engine.run()
    stable = [r for r in records if r.phase == "stable"]
    assert len(stable) == 30
    assert engine.decision.fallback is not None and "fell back to the defaults" in engine.decision.fallback
    verdict = engine.verdict()
    assert verdict["fallback"] == engine.decision.fallback and verdict["frozen"] == "defaults"
    last_frozen = max(i for i, r in enumerate(stable) if r.arm == "frozen")
    assert 5 < last_frozen < 29  # not at once, but before the end
    after = stable[last_frozen + 1:]
    assert after and all(r.arm == "defaults" and r.applied == records[0].applied for r in after)
    assert engine.frozen == engine.defaults


def test_failed_windows_are_excluded_from_the_means_and_counted(compose, sandbox: Path, tmp_path: Path) -> None:
    c = components(compose, sandbox, "tuner=fixed", "+tuner.parameters={vm_dirty_ratio: 15}")
    c.target = FailingWindows(c.target, {6: "raise"})  # candidate-1 of the first confirm round
    engine = engine_for(c, tmp_path, confirm_repeats=3)
    records = engine.run()
    assert records[6].phase == "confirm" and records[6].arm == "candidate-1" and records[6].status == "failed"
    row = engine.decision.candidates[0]
    assert (row["n"], row["n_defaults"]) == (2, 3)
    assert engine.verdict()["n_excluded"] == 1


def test_block_gain_and_helpers_by_hand() -> None:
    blocks = [([110.0, 110.0], [100.0]), ([120.0], [100.0])]
    est = block_gain(blocks, "maximize", 0.95, 500, seed=1)
    assert est.gain == pytest.approx((340 / 3) / 100 - 1) and (est.n_tuned, est.n_defaults) == (3, 2)
    # resampling blocks: pooled means lie between 110/100 and 120/100
    assert 0.10 - 1e-9 <= est.ci_low <= est.gain <= est.ci_high <= 0.20 + 1e-9
    assert not est.better  # two blocks are too few to claim 95%
    low = block_gain([([9.0], [10.0]), ([8.0], [10.0])], "minimize", 0.95, 500)
    assert low.gain == pytest.approx(10 / 8.5 - 1)  # lower is better: defaults / tuned
    assert block_gain([([1.0], [1.0])], "maximize").ci_low is None  # one block: no CI
    assert coefficient_of_variation([9.0, 11.0]) == pytest.approx(np.std([9, 11], ddof=1) / 10)
    harm = [([100.0], [100.0])] * 3 + [([80.0], [100.0]), ([70.0], [101.0]), ([60.0], [99.0])]
    assert growing_harm(harm, "maximize", 0.95, looks=2, min_blocks=3, n_boot=500) is not None
    assert growing_harm(harm[:2], "maximize", 0.95, looks=2, min_blocks=3, n_boot=500) is None


def test_small_sample_rules() -> None:
    assert [round(t_quantile(0.975, df), 2) for df in (1, 2, 3, 4, 9, 30)] == [12.71, 4.30, 3.18, 2.78, 2.26, 2.04]
    assert expanded_tail(0.95, 5) < 0.025 / 10 and 0.015 < expanded_tail(0.95, 20) < 0.025
    assert (min_blocks(0.95), min_blocks(0.975), min_blocks(0.99)) == (6, 7, 8)
    # 5 blocks all on the tuned side: a CI above 0, but too few blocks to claim 95% (2^-5 > 2.5%)
    five = block_gain([([110.0 + k], [100.0]) for k in range(5)], "maximize", 0.95, 500)
    assert five.ci_low > 0 and not five.better
    assert block_gain([([110.0 + k], [100.0]) for k in range(6)], "maximize", 0.95, 500).better


def test_false_positives_stay_rare_and_real_gains_show() -> None:
    """A/A: 300 runs of 7 paired blocks with 10% noise; the lower bound is above 0 in at most ~2.5% of
    them (allowing sampling error). A real +15% with 5% noise is found in most runs."""
    rng = np.random.default_rng(11)

    def rate(gain: float, cv: float) -> float:
        hits = 0
        for i in range(300):
            blocks = [([1000 * (1 + gain) * (1 + rng.normal(0, cv))], [1000 * (1 + rng.normal(0, cv))])
                      for _ in range(7)]
            hits += block_gain(blocks, "maximize", 0.95, 400, seed=i).better
        return hits / 300

    assert rate(0.0, 0.10) <= 0.05
    assert rate(0.15, 0.05) >= 0.8


def test_a_short_stable_phase_still_ends_with_a_default_window(compose, sandbox: Path, tmp_path: Path) -> None:
    c = components(compose, sandbox, "tuner=fixed")
    records = engine_for(c, tmp_path, stable_windows=2, stable_defaults_every=3).run()
    assert [r.arm for r in records if r.phase == "stable"] == ["frozen", "defaults"]
    assert engine_for(c, tmp_path, stable_windows=1).run()[-1].arm == "frozen"


def test_counterbalanced_blocks_cancel_a_drift_that_fixed_order_turns_into_a_gain() -> None:
    """A/A with a steady downward drift (-1% a window, 1% noise): with the defaults always last in each
    block the tuned arm looks ~1% better and is 'significant' in over a third of the runs; counterbalanced blocks
    (F D | D F | …) cancel the drift and stay within the false-positive rate."""
    from sematune.engine.decision import interleaved_blocks
    from sematune.engine.phases import default_slot
    from sematune.engine.records import WindowRecord

    rng = np.random.default_rng(5)

    def rate(counterbalanced: bool) -> float:
        hits = 0
        for run in range(200):
            records = []
            for i in range(1, 13):
                block = (i - 1) // 2
                is_default = default_slot(i, 2) if counterbalanced else i % 2 == 0
                value = 1000.0 * (1 - 0.01 * i) * (1 + rng.normal(0, 0.01))
                records.append(WindowRecord(window=i, phase="stable", arm="defaults" if is_default else "frozen",
                                            block=block, objective=value, reward=value))
            blocks = interleaved_blocks(records, "stable", "frozen", defaults_first=False)
            hits += block_gain(blocks, "maximize", 0.95, 300, seed=run).better
        return hits / 200

    assert rate(counterbalanced=False) > 0.2  # 0.37 with this seed: 7× the nominal 5%
    assert rate(counterbalanced=True) <= 0.05

