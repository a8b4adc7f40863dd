"""The signal matrix's real-host slice (``host_mutation``): SIGINT, SIGTERM and SIGKILL at seeded random
moments of a run that writes two harmless sysctls (``vm.swappiness``, ``vm.dirty_ratio``) on this host.

After each case (and ``python -m sematune.restore`` after SIGKILL) both files are byte-identical to
their state before the matrix, no journal is left, MLflow holds only windows that are in the history
and never says RUNNING. The sandbox matrix (``test_faults.py``) covers the same moments at 20 points
per signal; this slice proves the real procfs files and the real host lock behave the same.
"""

from __future__ import annotations

import random
import signal

import pytest

from tests.safety._faultlab import Lab, make_lab, mlflow_state, run_case

POINTS_PER_SIGNAL = 3
LONGEST_S = 2.5
FILES = ("/proc/sys/vm/swappiness", "/proc/sys/vm/dirty_ratio")

pytestmark = pytest.mark.host_mutation


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    return make_lab(tmp_path_factory.mktemp("host-faults"),
                    ["experiment=quick", "target=synthetic", "tuner=random", "probes=false",
                     "osparam=[vm_swappiness,vm_dirty_ratio]", "loop.tuning_windows=4", "loop.stable_windows=2",
                     "loop.window_seconds=0.15", "loop.settle_seconds=0"], files=FILES)


def _case(lab: Lab, name: str, sig: signal.Signals | None, delay: float) -> int:
    code = run_case(lab, name, sig, delay)
    log = (lab.work / f"{name}.log").read_text()
    if "is tuning this host" in log:  # another run held /run/sematune/lock: this case proved nothing
        pytest.fail(f"{name}: the real host lock was held by another run; rerun when it is free")
    return code


def test_an_undisturbed_run_on_the_real_host(lab: Lab) -> None:
    assert _case(lab, "host-plain", None, 0.0) == 0
    assert mlflow_state(lab, "host-plain")[0] == "FINISHED"
    history = (lab.work / "host-plain" / "history.jsonl").read_text()
    assert '"vm_swappiness"' in history and '"vm_dirty_ratio"' in history


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_signal_at_random_points_on_the_real_host(lab: Lab, sig: signal.Signals) -> None:
    rng = random.Random(f"sematune-host-faults-{sig.name}")
    for point in range(POINTS_PER_SIGNAL):
        _case(lab, f"host-{sig.name}-{point}", sig, rng.uniform(0.0, LONGEST_S))
