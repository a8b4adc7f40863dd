"""The LLM tuner driven like the engine drives it, against the fake server (real SDKs)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from sematune.engine.validation import validate_proposal
from sematune.errors import TunerError
from sematune.osparams.space import ParameterSpace
from sematune.tuners.base import Observation
from sematune.tuners.llm.trim import LlmTrimTuner, narrow
from sematune.tuners.llm.tuner import LlmTuner
from tests.llm.conftest import SECRET
from tests.llm.fake_llm import FakeLLM
from tests.tuners.support import objective_of, observation


def make(space: ParameterSpace, server: FakeLLM, tmp_path: Path, cls: type = LlmTuner, **kw: Any) -> LlmTuner:
    provider = kw.pop("provider", "openai")
    base = server.url + "/v1" if provider == "openai" else server.url
    tuner = cls(space=space, goal="maximize", seed=1, provider=provider, base_url=base, model="fast",
                objective_metric="throughput", retries=kw.pop("retries", 0), backoff_s=0, timeout_s=kw.pop("timeout_s", 5),
                n_trials=kw.pop("n_trials", 6), **kw)
    tuner.results_dir = tmp_path / "run" / "tuner"
    return tuner


def drive(tuner: LlmTuner, space: ParameterSpace, windows: int, start: int = 1) -> list[dict[str, Any]]:
    """Engine-like: validate (clip/reject), apply, observe with the notes; returns what was proposed."""
    current = space.read_all()
    defaults = dict(current)
    if not tuner.history:
        tuner.observe(observation(0, "baseline", current, objective_of(current)))
    proposals = []
    for iteration in range(start, start + windows):
        response = tuner.suggest_parameters(None, dict(current), iteration, 0.0, history=list(tuner.history),
                                            defaults=defaults)
        proposals.append(dict(response.parameters))
        checked = validate_proposal(response.parameters, space, current)
        current = {**current, **checked.values}
        tuner.observe(Observation(window=len(tuner.history), phase="tuning", parameters=dict(current),
                                  reward=objective_of(current), objective=objective_of(current),
                                  extra={"rejected": checked.rejected, "clipped": checked.clipped}))
    return proposals


def user_texts(server: FakeLLM) -> list[str]:
    return [b["messages"][1]["content"] for b in server.bodies("openai")]


def test_single_loop_prompt_has_every_section_and_the_engine_notes(space, fake_llm, keys, tmp_path) -> None:
    fake_llm.script({"json": {"justification": "push write-back", "vm_dirty_ratio": 500, "ratio": 0.5,
                              "scale": 2.0, "thp_enabled": "always; rm -rf /", "tcp_tw_reuse": 1,
                              "vm_min_free_kbytes": 65536, "kernel.evil": 1}})
    tuner = make(space, fake_llm, tmp_path)
    proposals = drive(tuner, space, 3)
    assert proposals[0]["vm_dirty_ratio"] == 500 and proposals[0]["kernel.evil"] == 1  # raw, for the engine
    system = fake_llm.bodies("openai")[0]["messages"][0]["content"]
    for section in ("TASK: MAXIMIZE throughput", "TUNABLE PARAMETERS", "vm_dirty_ratio: 1 to 80", "STRATEGY",
                    "ANSWER"):
        assert section in system
    first, second = user_texts(fake_llm)[:2]
    for section in ("MEASUREMENTS ARE NOISY", "[History]", "CURRENT BEST", "LATEST RESULT", "PHASE POLICY: EXPLORE"):
        assert section in first
    assert "CLIPPED" in second and "vm_dirty_ratio: 500 -> 80" in second
    assert "REJECTED" in second and "kernel.evil" in second and "thp_enabled" in second
    assert "TOP 2 CONFIGURATIONS" in second
    schema = fake_llm.bodies("openai")[0]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["vm_dirty_ratio"] == {"type": "integer", "minimum": 1, "maximum": 80}
    tuner.close()


def test_hidden_objective_shows_only_system_metrics(space, fake_llm, keys, tmp_path) -> None:
    tuner = make(space, fake_llm, tmp_path, hide_objective=True)
    current = space.read_all()
    from sematune.targets.base import BenchmarkMetrics

    tuner.observe(Observation(window=0, phase="baseline", parameters=current, reward=1234.5, objective=1234.5,
                              metrics=BenchmarkMetrics(throughput=1234.5, system={"cpu_util": 0.5})))
    tuner.suggest_parameters(None, current, 1, 0.0, defaults=current)
    text = fake_llm.bodies("openai")[0]["messages"][0]["content"] + user_texts(fake_llm)[0]
    assert "HIDDEN" in text and "system.cpu_util=0.5" in text
    assert "1234" not in text and "CURRENT BEST" not in text and "TOP" not in text


def test_failures_keep_the_configuration_and_too_many_end_the_run(space, fake_llm, keys, tmp_path) -> None:
    fake_llm.script({"status": 500}, {"text": "not json"}, {"status": 500}, {"status": 500})
    tuner = make(space, fake_llm, tmp_path, max_consecutive_failures=3)
    current = space.read_all()
    tuner.observe(observation(0, "baseline", current, 1.0))
    first = tuner.suggest_parameters(None, current, 1, 0.0, defaults=current)
    assert first.parameters == {} and "keeping the current configuration" in first.justification
    assert first.token_usage.failed_calls == 1
    tuner.suggest_parameters(None, current, 2, 0.0, defaults=current)
    with pytest.raises(TunerError, match="3 windows in a row"):
        tuner.suggest_parameters(None, current, 3, 0.0, defaults=current)


def test_dual_loop_never_waits_for_the_slow_model(space, fake_llm, keys, tmp_path) -> None:
    fake_llm.delays["slow"] = 1.0
    tuner = make(space, fake_llm, tmp_path, loop="dual", slow_model="slow", slow_max_age=5, n_trials=8)
    current = space.read_all()
    tuner.observe(observation(0, "baseline", current, objective_of(current)))
    asks, notes = [], []
    for iteration in range(1, 9):
        t0 = time.perf_counter()
        response = tuner.suggest_parameters(None, current, iteration, 0.0, defaults=current)
        asks.append(time.perf_counter() - t0)
        notes.append(response.justification)
        current = {**current, **validate_proposal(response.parameters, space, current).values}
        tuner.observe(observation(iteration, "tuning", current, objective_of(current)))
        time.sleep(0.3)  # the window
    applied = [(i, n) for i, n in enumerate(notes, 1) if "[slow, from window" in n]
    assert applied, notes
    first_at, first_note = applied[0]
    assert "from window 1]" in first_note and first_at >= 3  # windows 2.. ran while the slow call was out
    assert tuner.slow_stats["applied"] == len(applied) and tuner.slow_stats["dispatched"] <= 3
    assert max(asks) < 1.0  # no window waited for the slow model (each ask is one fast call)
    assert "slow+fast" in tuner._tags.values()
    models = [b["model"] for b in fake_llm.bodies("openai")]
    assert models.count("fast") == 8
    assert tuner.best_parameters() is not None  # the freeze request goes to the slow model
    assert fake_llm.bodies("openai")[-1]["model"] == "slow"
    assert "FREEZE" in user_texts(fake_llm)[-1]
    tuner.close()


def test_dual_loop_drops_stale_slow_answers(space, fake_llm, keys, tmp_path) -> None:
    fake_llm.delays["slow"] = 0.3
    tuner = make(space, fake_llm, tmp_path, loop="dual", slow_model="slow", slow_max_age=1, n_trials=6)
    current = space.read_all()
    tuner.observe(observation(0, "baseline", current, 1.0))
    notes = []
    for iteration in range(1, 6):
        notes.append(tuner.suggest_parameters(None, current, iteration, 0.0, defaults=current).justification)
        tuner.observe(observation(iteration, "tuning", current, 1.0))
        time.sleep(0.2 if iteration == 1 else 0.0)  # the first answer arrives two boundaries late
    time.sleep(0.4)
    notes.append(tuner.suggest_parameters(None, current, 6, 0.0, defaults=current).justification)
    assert tuner.slow_stats["stale"] >= 1 and any("stale, dropped" in n for n in notes), notes
    assert tuner.slow_stats["dispatched"] <= 6  # one in flight at a time: never piled up
    tuner.close()


def test_tokens_cost_logs_gist_and_no_secret_anywhere(space, fake_llm, keys, tmp_path) -> None:
    tuner = make(space, fake_llm, tmp_path, provider="gemini", prices={"fast": {"input": 1.0, "output": 4.0}})
    drive(tuner, space, 3)
    facts = tuner.finish(completed=True)
    assert facts["gist"].startswith("lessons")
    assert facts["calls"]["total"]["calls"] == 4 and facts["calls"]["gist"]["calls"] == 1
    assert facts["calls"]["total"]["cost_usd"] > 0 and facts["calls"]["total"]["thinking_tokens"] == 12
    llm_dir = tmp_path / "run" / "tuner" / "llm"
    assert (llm_dir / "gist.md").read_text().startswith("lessons")
    files = list(llm_dir.iterdir())
    assert len(files) == 6  # 4 attempts, calls.jsonl, gist.md
    assert all(SECRET not in f.read_text() for f in files)
    assert fake_llm.requests[0]["headers"]["x-goog-api-key"] == SECRET  # it was sent, only to the provider


def test_prior_from_a_run_dir_goes_into_the_first_prompt(space, fake_llm, keys, tmp_path) -> None:
    run = tmp_path / "earlier"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({
        "tuner": {"gist": "- vm_dirty_ratio near 10 helped\n- THP was inert"},
        "frozen_diff": {"vm_dirty_ratio": {"default": 20, "chosen": 10}},
        "verdict": {"gain": 0.08, "ci_low": 0.03, "ci_high": 0.12, "significant": True}}))
    tuner = make(space, fake_llm, tmp_path, prior_from=str(run))
    drive(tuner, space, 1)
    system = fake_llm.bodies("openai")[0]["messages"][0]["content"]
    assert "SUMMARY OF AN EARLIER TUNING RUN" in system and "vm_dirty_ratio near 10 helped" in system
    assert "vm_dirty_ratio=10" in system and "+8.0%" in system


def test_prior_from_nothing_is_a_config_error(space, fake_llm, keys, tmp_path) -> None:
    from sematune.errors import ConfigError

    with pytest.raises(ConfigError, match="tuner.prior_from"):
        make(space, fake_llm, tmp_path, prior_from=str(tmp_path / "nowhere"))


def test_bad_settings_are_one_line_config_errors(space, fake_llm, keys, tmp_path) -> None:
    from sematune.errors import ConfigError

    for key, value in (("loop", "triple"), ("signals", "both"), ("json_mode", "xml"), ("temperature", 5),
                       ("retries", -1), ("provider", "claude")):
        with pytest.raises(ConfigError, match=f"tuner.{key}"):
            make(space, fake_llm, tmp_path, **{key: value})


def test_trimming_narrows_drops_then_hands_over_to_bayesian(space, fake_llm, keys, tmp_path) -> None:
    pytest.importorskip("smac")
    fake_llm.script({"json": {"justification": "narrow", "vm_dirty_ratio": 10, "vm_min_free_kbytes": 65536,
                              "ratio": 0.7, "scale": 1.0, "thp_enabled": "always", "tcp_tw_reuse": 1,
                              "suggested_ranges": {"vm_dirty_ratio": {"min": 30, "max": 5},
                                                   "thp_enabled": {"values": ["always", "bogus", "madvise"]},
                                                   "nonsense": {"min": 1, "max": 2}},
                              "eliminated_params": ["scale", "tcp_tw_reuse"]}})
    tuner = make(space, fake_llm, tmp_path, cls=LlmTrimTuner, trim_windows=2, n_trials=5)
    proposals = drive(tuner, space, 5)
    assert tuner.ranges["vm_dirty_ratio"].low == 5 and tuner.ranges["vm_dirty_ratio"].high == 30
    assert tuner.ranges["thp_enabled"].choices == ("always", "madvise")
    assert tuner.eliminated == {"scale": 1.0, "tcp_tw_reuse": 1}
    assert tuner.inner is not None and sorted(tuner.inner.space.names) == sorted(
        ["vm_dirty_ratio", "vm_min_free_kbytes", "ratio", "thp_enabled"])
    for proposal in proposals[2:]:  # the optimiser searches the trimmed space; dropped knobs stay put
        assert 5 <= proposal["vm_dirty_ratio"] <= 30 and proposal["thp_enabled"] in ("always", "madvise")
        assert proposal["scale"] == 1.0 and proposal["tcp_tw_reuse"] == 1
    assert len(fake_llm.requests) == 2  # no model calls after the handoff
    facts = tuner.finish(completed=False)
    assert facts["trimming"]["eliminated"] == {"scale": 1.0, "tcp_tw_reuse": 1}
    assert facts["trimming"]["actions"][0]["ignored"] == ["nonsense"]
    tuner.close()


def test_narrow_clamps_swaps_and_widens(space) -> None:
    dirty = space["vm_dirty_ratio"].domain
    assert narrow(dirty, {"min": 90, "max": -5}, "k").describe()["low"] == 1
    zero = narrow(dirty, {"min": 40, "max": 40}, "k")
    assert (zero.low, zero.high) == (39, 41)
    assert narrow(dirty, {"min": "a", "max": 3}, "k") is None
    assert narrow(space["thp_enabled"].domain, {"values": ["bogus"]}, "k") is None


def test_the_seed_contracts_metrics_and_best_reward_reach_the_prompt(space, fake_llm, keys, tmp_path) -> None:
    from sematune.targets.base import BenchmarkMetrics

    tuner = make(space, fake_llm, tmp_path)
    current = space.read_all()
    tuner.observe(observation(0, "baseline", current, 900.0))
    tuner.observe(observation(1, "tuning", {**current, "vm_dirty_ratio": 10}, 950.0))
    latest = BenchmarkMetrics(throughput=950.0, extra_metrics={"latency_p99": 4.25})
    tuner.suggest_parameters(latest, current, 2, 950.0, defaults=current)
    text = user_texts(fake_llm)[0]
    assert "LATEST RESULT: window 1" in text and "latency_p99=4.25" in text
    assert "CURRENT BEST: throughput=950 (window 1) with {vm_dirty_ratio=10}" in text


def test_a_long_history_is_cut_to_the_prompt_budget_keeping_the_first_window(space, fake_llm, keys, tmp_path) -> None:
    tuner = make(space, fake_llm, tmp_path, max_prompt_chars=6000, n_trials=60)
    current = space.read_all()
    tuner.observe(observation(0, "baseline", current, 900.0))
    for w in range(1, 50):
        tuner.observe(observation(w, "tuning", {**current, "vm_dirty_ratio": 1 + w, "ratio": w / 50}, 900.0 + w))
    tuner.suggest_parameters(None, current, 50, 0.0, defaults=current)
    system = fake_llm.bodies("openai")[0]["messages"][0]["content"]
    text = user_texts(fake_llm)[0]
    assert len(system) + len(text) <= 6000
    assert "older ones left out" in text and "* window 0 (defaults)" in text and "* window 49:" in text
    assert "* window 1:" not in text
