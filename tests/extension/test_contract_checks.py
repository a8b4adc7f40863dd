"""A ``_target_`` is resolved and checked against its contract before anything is called.

Every refusal: exit 2, one line naming the key, the host tree byte-identical, no journal.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.test_journal import snapshot
from tests.test_cli import assert_refused

CANARY = "canary.txt"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["target._target_=os.system"], "target._target_: os.system is a function, not a class"),
        (["tuner._target_=builtins.eval"], "tuner._target_: builtins.eval is a function, not a class"),
        (["target._target_=sematune.app.main"], "target._target_: sematune.app.main is a function"),
        (["target._target_=sematune.tuners.random_search.RandomTuner"],
         "is not a subclass of sematune.targets.base.Target"),
        (["tuner._target_=sematune.targets.synthetic.SyntheticTarget"],
         "is not a subclass of sematune.tuners.base.Tuner"),
        (["+osparam.odd={_target_:sematune.tuners.fixed.FixedTuner}"],
         "osparam.odd._target_: sematune.tuners.fixed.FixedTuner is not a subclass of sematune.osparams.base.OsParam"),
        (["target._target_=sematune.targets.base.Target"], "target._target_: sematune.targets.base.Target is abstract"),
        (["target._target_=no_such_module.Thing"], "target._target_: cannot import 'no_such_module.Thing'"),
        (["target.pin_to_cores={_target_:builtins.open,_args_:[@CANARY@,w]}"],
         "target.pin_to_cores._target_: nested _target_ is refused"),
        (["tuner=fixed", "+tuner.parameters={vm_dirty_ratio:{_target_:shutil.copyfile,src:/etc/hostname,dst:@CANARY@}}"],
         "tuner.parameters.vm_dirty_ratio._target_: nested _target_ is refused"),
        (["+target._args_=[1]"], "target._args_: is not supported on a component"),
    ],
)
def test_refused_before_any_write(cli, sandbox: Path, state_dir: Path, tmp_path: Path, overrides: list[str],
                                  expected: str) -> None:
    canary = tmp_path / CANARY
    canary.write_text("keep me")
    overrides = [o.replace("@CANARY@", str(canary)) for o in overrides]
    tuner = [] if any(o.startswith("tuner=") for o in overrides) else ["tuner=random"]
    before = snapshot(sandbox)
    out = cli(*tuner, "target=synthetic", *overrides, f"host_root={sandbox}", "experiment=quick",
              "tracking.enabled=false")
    assert_refused(out, expected)
    assert snapshot(sandbox) == before
    assert canary.read_text() == "keep me"
    assert not (state_dir / "journal.json").exists()
