"""Fixtures for the tuner tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from sematune.osparams import ParameterSpace
from tests.tuners.support import make_space


@pytest.fixture
def space(tmp_path: Path) -> ParameterSpace:
    """int, log int, float, log float, categorical str and categorical int knobs on a host tree."""
    return make_space(tmp_path / "host")
