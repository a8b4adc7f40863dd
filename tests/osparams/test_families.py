"""conf/osparam: every knob belongs to exactly one family set and carries its prefix; old names alias."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from sematune.components import build_components
from sematune.conf.renamed import RENAMED

CONF = Path(__file__).resolve().parents[2] / "sematune" / "conf" / "osparam"
FAMILIES = ("vm", "net", "sched", "cpu", "blk")


def _load() -> tuple[dict[str, dict], dict[str, list[str]]]:
    knobs, sets = {}, {}
    for path in sorted(CONF.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        if "_target_" in data:
            knobs[path.stem] = data
        else:
            sets[path.stem] = list(data["defaults"])
    return knobs, sets


def test_every_knob_is_in_exactly_one_family_with_its_prefix() -> None:
    knobs, sets = _load()
    assert set(sets) == {*FAMILIES, "default", "all"}
    for name in knobs:
        owners = [f for f in FAMILIES if name in sets[f]]
        assert owners == [name.split("_", 1)[0]], f"{name} is in {owners}"
    assert sorted(m for f in FAMILIES for m in sets[f]) == sorted(knobs)
    assert sets["all"] == list(FAMILIES)
    assert set(sets["default"]) <= set(knobs)


def test_old_names_point_at_current_knobs_or_sets() -> None:
    knobs, sets = _load()
    assert set(RENAMED.values()) <= set(knobs) | set(sets)
    assert not set(RENAMED) & (set(knobs) | set(sets))


def test_an_old_name_still_works_with_a_warning(compose, sandbox: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        components = build_components(compose("osparam=[vm_swappiness,thp_enabled]", "target=synthetic",
                                              "tuner=random", f"host_root={sandbox}", "tracking.enabled=false"))
    assert components.space.names == ["vm_swappiness", "vm_thp_enabled"]
    assert "'thp_enabled' was renamed 'vm_thp_enabled'" in caplog.text
    with_set = compose("osparam=block", "target=synthetic")
    assert list(with_set.osparam) == yaml.safe_load((CONF / "blk.yaml").read_text())["defaults"]
