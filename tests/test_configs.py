"""Every option of every config group composes and instantiates."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.utils import instantiate

from sematune.components import build_space
from sematune.osparams.base import OsParam
from sematune.osparams.host import Host
from sematune.targets.base import Target
from sematune.tuners.base import Tuner
from tests.conftest import missing

CONF = Path(__file__).resolve().parents[1] / "sematune" / "conf"


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_root_conf_link_points_into_the_package() -> None:
    assert (CONF.parents[1] / "conf" / "config.yaml").resolve() == (CONF / "config.yaml").resolve()


@pytest.mark.parametrize("option", options("osparam"))
def test_every_knob_and_set_instantiates(compose, sandbox: Path, option: str) -> None:
    cfg = compose(f"osparam={option}", f"host_root={sandbox}")
    host = Host(sandbox)
    for name, node in cfg.osparam.items():
        param = instantiate(node, name=name, host=host)
        assert isinstance(param, OsParam) and param.name == name
        assert node._target_.startswith("sematune.osparams.")
        assert param.description, f"{name} has no description"
        param.describe()


def test_default_set_is_available_on_this_host(compose, sandbox: Path) -> None:
    cfg = compose(f"host_root={sandbox}")
    space = build_space(cfg, Host(sandbox), skip_unavailable=False)
    assert len(space) >= 7


@pytest.mark.parametrize("option", options("target"))
def test_every_target_instantiates_without_side_effects(compose, option: str, tmp_path: Path) -> None:
    cfg = compose(f"target={option}")
    assert cfg.target._target_.startswith("sematune.targets.")
    target = instantiate(cfg.target, _convert_="all")
    assert isinstance(target, Target)
    metric, goal = target.default_objective
    assert metric and goal in ("maximize", "minimize")


@pytest.mark.parametrize("option", options("tuner"))
def test_every_tuner_instantiates(compose, sandbox: Path, option: str, tmp_path: Path) -> None:
    extra = []
    if option == "replay":  # replays a recorded run: give it one
        from sematune.engine.records import WindowRecord

        (tmp_path / "history.jsonl").write_text(WindowRecord(window=1, phase="tuning").model_dump_json() + "\n")
        extra.append(f"tuner.trace={tmp_path}")
    cfg = compose(f"tuner={option}", f"host_root={sandbox}", *extra)
    space = build_space(cfg, Host(sandbox), skip_unavailable=True)
    try:
        tuner = instantiate(cfg.tuner, _convert_="all", space=space, goal="maximize", seed=0)
    except Exception as exc:  # an optional extra that is not installed
        if isinstance(exc.__cause__, ImportError) or isinstance(exc, ImportError):
            missing(f"optional dependency of tuner={option}: {exc}")
        raise
    assert isinstance(tuner, Tuner)
    tuner.close()


@pytest.mark.parametrize("option", options("experiment"))
def test_every_experiment_composes(compose, option: str) -> None:
    cfg = compose(f"experiment={option}")
    assert cfg.loop.tuning_windows >= 1
