"""The generated knob reference is current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_osparam_reference_is_current() -> None:
    spec = importlib.util.spec_from_file_location("gen_osparams", DOCS / "gen_osparams.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (DOCS / "osparams.md").read_text() == module.render(), "run: python docs/gen_osparams.py"
