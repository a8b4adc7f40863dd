"""Fuzzed tuner proposals (hypothesis, 10,000+ examples over every value class) on a host_root tree.

Each example goes through the engine's own path — validation, apply, the history record —
in-process for speed. Afterwards: no file outside the declared knob files changed, every value
on disk is in its knob's domain, every proposed entry is either applied or rejected with a
reason, and every record serialises and reads back.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from sematune.engine.records import HistoryWriter, WindowRecord, read_history
from sematune.engine.validation import validate_proposal
from sematune.osparams import Host
from tests.safety._helpers import small_space, snapshot


class Hostile:
    """A value whose every conversion raises."""

    def __float__(self) -> float:
        raise RuntimeError("float")

    def __str__(self) -> str:
        raise RuntimeError("str")

    def __repr__(self) -> str:
        raise RuntimeError("repr")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    __hash__ = object.__hash__


NAMES = ["vm_swappiness", "vm_dirty_ratio", "thp_enabled", "thp_defrag"]
values = st.one_of(
    st.integers(), st.integers(min_value=10**300, max_value=10**400), st.just(10**5000),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30), st.binary(max_size=20),
    st.booleans(), st.none(), st.just(object()), st.builds(Hostile),
    st.sampled_from(["always", "never", "madvise", "[never]", "1e400", "nan", " 5 ", "defer+madvise"]),
    st.integers(-2**63, 2**63 - 1).map(np.int64), st.floats(width=32).map(np.float32),
    st.integers(0, 255).map(np.uint8), st.just(np.float64("nan")), st.just(np.array([1, 2])),
    st.decimals(allow_nan=True), st.fractions(), st.complex_numbers(), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
keys = st.one_of(st.sampled_from(NAMES), st.text(max_size=12), st.integers(), st.none(), st.binary(max_size=4),
                 st.builds(Hostile), st.tuples(st.integers()))
proposals = st.dictionaries(keys, values, max_size=6)

EXAMPLES_PER_TEST = 5000  # two tests: 10,000 examples in all


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory, host_snapshot: Path):
    root = tmp_path_factory.mktemp("fuzz") / "host"
    shutil.copytree(host_snapshot, root, symlinks=True)
    host = Host(root)
    space = small_space(host)
    declared = {str(Path(host.path(p)).relative_to(root)) for p, _ in space.journal_files()}
    before = snapshot(root)
    # the real writer (fsync per line) on tmpfs where there is one: 10,000 fsyncs on disk take minutes
    shm = Path("/dev/shm")
    hist_dir = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else root.parent
    history = HistoryWriter(hist_dir / "history.jsonl")
    state = {"root": root, "space": space, "current": space.read_all(), "declared": declared,
             "before": before, "history": history, "window": 0}
    yield state
    history.close()
    after = snapshot(root)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert changed <= declared, changed - declared
    assert len(read_history(hist_dir / "history.jsonl")) == state["window"]
    shutil.rmtree(hist_dir) if hist_dir != root.parent else None


def _one(state: dict, proposal: dict) -> None:
    space = state["space"]
    validated = validate_proposal(proposal, space, state["current"])
    # every entry accounted for: applied (possibly clipped) or rejected with a reason
    assert len(validated.proposed) == len(validated.rejected) + sum(k in space for k in validated.proposed
                                                                     if k not in validated.rejected)
    for key, reason in validated.rejected.items():
        assert isinstance(key, str) and isinstance(reason, str) and reason
    applied = space.apply(validated.values, state["current"])
    state["current"] = applied.applied
    for name, value in space.read_all().items():  # on disk: always in the domain
        param = space[name]
        assert param.clip(param.coerce(value)) == value
    record = WindowRecord(window=state["window"], phase="tuning", proposed=validated.proposed,
                          rejected=validated.rejected, clipped=validated.clipped, requested=validated.values,
                          applied=applied.applied, write_errors=applied.write_errors)
    state["history"].append(record)
    state["window"] += 1
    json.loads(record.model_dump_json())


_settings = settings(max_examples=EXAMPLES_PER_TEST, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(HealthCheck))


@_settings
@given(proposal=proposals)
def test_fuzzed_proposals_mixed(tree: dict, proposal: dict) -> None:
    _one(tree, proposal)


@_settings
@given(name=st.sampled_from(NAMES), value=values)
def test_fuzzed_values_per_knob(tree: dict, name: str, value: object) -> None:
    _one(tree, {name: value})
