"""The guard rails in the window loop (synthetic target on a sandbox host, no service needed):
``loop.max_regression`` stops exploring and puts the defaults back, ``loop.dry_run_windows`` only
observes, ``loop.min_traffic`` marks idle windows that the tuner never sees as scored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from sematune.engine.loop_settings import LoopSettings
from tests.engine.test_loop import components, engine_for


class NoTuner:
    """Fails the test if the loop asks it anything."""

    history: list = []

    def suggest_parameters(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a dry run must not ask the tuner")

    def observe(self, observation: Any) -> None:
        self.history.append(observation)


def test_regression_bound_stops_exploring_and_restores_the_defaults(compose, sandbox: Path, tmp_path: Path) -> None:
    # Each window loses half of the base throughput: the first tuning window is ~50 % worse.
    c = components(compose, sandbox, "tuner=random", "target.noise_cv=0", "target.drift_per_window=-0.5")
    engine = engine_for(c, tmp_path, max_regression=0.3)
    records = engine.run()
    assert [r.phase for r in records] == ["baseline", "tuning"]
    assert records[1].applied != records[0].applied  # it explored…
    assert engine.guard_stop and "worse than the defaults" in engine.guard_stop
    assert c.space.read_all() == engine.defaults == engine.current  # …and put the defaults back


def test_regression_bound_is_off_by_default(compose, sandbox: Path, tmp_path: Path) -> None:
    assert LoopSettings().max_regression is None and LoopSettings().min_traffic is None
    c = components(compose, sandbox, "tuner=random", "target.noise_cv=0", "target.drift_per_window=-0.1")
    engine = engine_for(c, tmp_path, confirm_candidates=0)
    assert len(engine.run()) == 1 + 4 + 2 and engine.guard_stop is None


def test_dry_run_only_observes_the_current_configuration(compose, sandbox: Path, tmp_path: Path) -> None:
    c = components(compose, sandbox, "tuner=random")
    c.tuner = NoTuner()
    engine = engine_for(c, tmp_path, dry_run_windows=3)
    records = engine.run()
    assert [(r.phase, r.status) for r in records] == [("baseline", "ok")] * 3
    assert all(r.applied == engine.defaults and r.reward is not None for r in records)


def test_idle_windows_reach_the_tuner_unscored(compose, sandbox: Path, tmp_path: Path) -> None:
    c = components(compose, sandbox, "tuner=random")
    engine = engine_for(c, tmp_path, tuning_windows=2, stable_windows=0, max_remeasure=0,
                        min_traffic={"metric": "throughput", "min": 1e12})
    records = engine.run()
    assert [r.status for r in records] == ["idle"] * 3 and engine.best() is None
    assert len(c.tuner.history) == 3 and all(o.reward is None for o in c.tuner.history)


def test_guard_settings_are_checked() -> None:
    for bad in ({"max_regression": 0}, {"min_traffic": {"metric": "throughput"}},
                {"min_traffic": {"metric": "throughput", "min": -1}}, {"dry_run_windows": -1}):
        with pytest.raises(ValidationError):
            LoopSettings(**bad)
