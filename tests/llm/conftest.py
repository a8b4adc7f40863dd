"""Fixtures for the LLM tuner tests: the two-protocol fake server and a small knob space."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from sematune.osparams.space import ParameterSpace
from tests.conftest import requires
from tests.llm.fake_llm import FakeLLM
from tests.tuners.support import make_space

#: A key shaped like a real one: it must never appear in anything a run records.
SECRET = "sk-test-SEMATUNE0secret0never0recorded0xyz"


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    requires("openai", reason="the LLM tuner tests need the [llm] extra (openai)")
    requires("google.genai", reason="the LLM tuner tests need the [llm] extra (google-genai)")
    with FakeLLM() as server:
        yield server


@pytest.fixture
def space(tmp_path: Path) -> ParameterSpace:
    return make_space(tmp_path / "host")


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("GEMINI_API_KEY", SECRET)
    return SECRET
