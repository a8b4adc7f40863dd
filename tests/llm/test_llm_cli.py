"""The LLM tuners through the real command line, against the two-protocol fake server.

Each run uses the synthetic target on a sandbox host tree; the real openai / google-genai SDKs
talk HTTP to the fake server in this process.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sematune.engine.records import read_history
from sematune.tracking.mlflow_tracker import mlflow_client
from tests.llm.conftest import SECRET
from tests.llm.fake_llm import FakeLLM

QUICK = ["target=synthetic", "experiment=quick", "target.window_time_scale=0.05", "probes=false"]
ENV = {"OPENAI_API_KEY": SECRET, "GEMINI_API_KEY": SECRET}


def provider_args(name: str, server: FakeLLM) -> list[str]:
    base = f"{server.url}/v1" if name == "openai" else server.url
    return ["tuner=llm", f"tuner.provider={name}", f"tuner.base_url={base}", "tuner.model=fake-model",
            "tuner.backoff_s=0"]


def only_run(work: Path) -> Path:
    runs = [p.parent for p in work.glob("outputs/**/summary.json")]
    assert len(runs) == 1, runs
    return runs[0]


def no_secret_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]


def client_of(work: Path):
    return mlflow_client(f"sqlite:///{work / 'mlflow.db'}")


@pytest.mark.parametrize("name", ["openai", "gemini"])
def test_llm_run_end_to_end_records_calls_tokens_gist_and_no_key(cli, sandbox: Path, fake_llm: FakeLLM,
                                                                  name: str) -> None:
    result = cli(*provider_args(name, fake_llm), *QUICK, f"host_root={sandbox}", env=ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    run = only_run(cli.cwd)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "FINISHED" and summary["restore"] == "PASS"
    calls = summary["tuner"]["calls"]
    assert calls["single"]["calls"] == 4 and calls["freeze"]["calls"] == 1 and calls["gist"]["calls"] == 1
    assert calls["total"]["failed_calls"] == 0 and calls["total"]["input_tokens"] > 0
    assert summary["tuner"]["gist"].startswith("lessons")
    tuning = [r for r in read_history(run / "history.jsonl") if r.phase == "tuning"]
    assert len(tuning) == 4 and all(r.tuner.token_usage and r.tuner.token_usage.calls == 1 for r in tuning)
    assert all(not r.rejected and not r.clipped for r in tuning)  # the schema's bounds held
    assert "Model calls" in result.stdout + result.stderr
    client = client_of(cli.cwd)
    (mlrun,) = client.search_runs([client.get_experiment_by_name("sematune").experiment_id])
    assert mlrun.data.tags["tuner.calls.calls"] == "6" and mlrun.data.tags["tuner.gist"].startswith("lessons")
    assert len(client.get_metric_history(mlrun.info.run_id, "tokens/input")) == 4
    assert len(client.get_metric_history(mlrun.info.run_id, "llm/calls")) == 4
    logged = {a.path for a in client.list_artifacts(mlrun.info.run_id, "tuner/llm")}
    assert "tuner/llm/calls.jsonl" in logged and "tuner/llm/gist.md" in logged and len(logged) == 8
    sent = fake_llm.requests[0]["headers"]
    assert SECRET in (sent.get("authorization", "") + sent.get("x-goog-api-key", ""))
    assert no_secret_under(cli.cwd) == [] and SECRET not in result.stdout + result.stderr


def test_faults_are_survived_recorded_and_the_host_restored(cli, sandbox: Path, fake_llm: FakeLLM) -> None:
    hostile = {"justification": "x" * 40, "vm_dirty_ratio": 500, "vm_thp_enabled": "always; reboot",
               "vm_min_free_kbytes": -3, "kernel.core_pattern": "|/bin/sh -c 'touch /tmp/pwned'",
               "vm_dirty_background_ratio": "$(reboot)"}
    fake_llm.script({"status": 429, "retry_after": 0}, {"status": 500},      # window 1: both attempts fail
                    {"text": "I suggest raising dirty_ratio."}, {"truncate": True},  # window 2: unusable replies
                    {"json": hostile})                                        # window 3: out of range, unknown, shell
    result = cli(*provider_args("openai", fake_llm), "tuner.retries=1", *QUICK, f"host_root={sandbox}",
                 "tracking.enabled=false", env=ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    run = only_run(cli.cwd)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "FINISHED" and summary["restore"] == "PASS"
    tuning = [r for r in read_history(run / "history.jsonl") if r.phase == "tuning"]
    assert "model call failed (server: HTTP 500" in tuning[0].tuner.justification and tuning[0].proposed == {}
    assert "invalid: the reply was cut at the token limit" in tuning[1].tuner.justification
    assert tuning[0].tuner.token_usage.failed_calls == 1
    assert tuning[2].clipped["vm_dirty_ratio"] == [500, 80]
    assert {"kernel.core_pattern", "vm_thp_enabled", "vm_dirty_background_ratio"} <= set(tuning[2].rejected)
    assert not Path("/tmp/pwned").exists()
    prompt_after = fake_llm.bodies("openai")[5]["messages"][1]["content"]  # window 4's request
    assert "CLIPPED" in prompt_after and "kernel.core_pattern" in prompt_after
    calls = [json.loads(line) for line in (run / "tuner" / "llm" / "calls.jsonl").read_text().splitlines()]
    assert [c["ok"] for c in calls[:3]] == [False, False, True]
    assert calls[0]["errors"][0].startswith("rate_limit") and calls[1]["errors"][0].startswith("invalid")


def test_a_provider_that_keeps_failing_ends_the_run_cleanly(cli, sandbox: Path, fake_llm: FakeLLM) -> None:
    fake_llm.script(*[{"status": 500}] * 10)
    result = cli(*provider_args("openai", fake_llm), "tuner.retries=0", "tuner.max_consecutive_failures=2", *QUICK,
                 f"host_root={sandbox}", "tracking.enabled=false", env=ENV)
    assert result.returncode == 1
    out = result.stdout + result.stderr
    assert "failed 2 windows in a row" in out and "host restore PASS" in out
    summary = json.loads((only_run(cli.cwd) / "summary.json").read_text())
    assert summary["status"] == "FAILED" and summary["restore"] == "PASS"
    assert "gist" not in summary["tuner"]  # no gist after a failed run


def test_a_missing_key_is_a_one_line_error_before_any_write(cli, sandbox: Path) -> None:
    pytest.importorskip("openai")
    result = cli("tuner=llm", "tuner.provider=openai", *QUICK, f"host_root={sandbox}", "tracking.enabled=false",
                 env={"OPENAI_API_KEY": ""})
    assert result.returncode == 2
    errors = [line for line in (result.stdout + result.stderr).splitlines() if "config error" in line]
    assert len(errors) == 1 and "OPENAI_API_KEY" in errors[0]
    assert not list(cli.cwd.glob("outputs/**/history.jsonl"))


def test_replay_reproduces_the_proposals_from_a_dir_and_from_mlflow(cli, sandbox: Path, fake_llm: FakeLLM) -> None:
    fake_llm.script({"json": {"justification": "odd values", "vm_dirty_ratio": 99, "unknown_knob": 1}})
    first = cli(*provider_args("openai", fake_llm), *QUICK, f"host_root={sandbox}", env=ENV)
    assert first.returncode == 0, first.stderr[-2000:]
    recorded = only_run(cli.cwd)
    calls = len(fake_llm.requests)
    original = [r for r in read_history(recorded / "history.jsonl") if r.phase == "tuning"]
    client = client_of(cli.cwd)
    (mlrun,) = client.search_runs([client.get_experiment_by_name("sematune").experiment_id])
    for trace in (str(recorded), mlrun.info.run_id):
        replay = cli("tuner=replay", f"tuner.trace={trace}", *QUICK, f"host_root={sandbox}", env=ENV)
        assert replay.returncode == 0, replay.stderr[-2000:]
        newest = max((p.parent for p in cli.cwd.glob("outputs/**/summary.json")), key=lambda p: p.stat().st_mtime)
        again = [r for r in read_history(newest / "history.jsonl") if r.phase == "tuning"]
        assert [r.proposed for r in again] == [r.proposed for r in original]
        assert [r.clipped for r in again] == [r.clipped for r in original]
        assert [r.rejected for r in again] == [r.rejected for r in original]
        summary = json.loads((newest / "summary.json").read_text())
        assert summary["confirmation"][0]["source"] == "tuner's best_parameters()"
    assert len(fake_llm.requests) == calls  # no provider call while replaying


def test_prior_from_an_mlflow_run_reaches_the_next_first_prompt(cli, sandbox: Path, fake_llm: FakeLLM) -> None:
    fake_llm.script({"json": {"lessons": "- vm_dirty_ratio low helped the synthetic target"}}, model="gist-model")
    first = cli(*provider_args("openai", fake_llm), *QUICK, f"host_root={sandbox}", env=ENV)
    assert first.returncode == 0, first.stderr[-2000:]
    client = client_of(cli.cwd)
    (mlrun,) = client.search_runs([client.get_experiment_by_name("sematune").experiment_id])
    before = len(fake_llm.requests)
    second = cli(*provider_args("openai", fake_llm), f"tuner.prior_from={mlrun.info.run_id}", *QUICK,
                 f"host_root={sandbox}", env=ENV)
    assert second.returncode == 0, second.stderr[-2000:]
    system = fake_llm.bodies("openai")[before]["messages"][0]["content"]
    assert "SUMMARY OF AN EARLIER TUNING RUN" in system and "lessons: knob A mattered" in system
    missing = cli(*provider_args("openai", fake_llm), "tuner.prior_from=0123456789abcdef0123456789abcdef", *QUICK,
                  f"host_root={sandbox}", env=ENV)
    assert missing.returncode == 2 and "tuner.prior_from" in missing.stdout + missing.stderr


@pytest.mark.slow
def test_a_tuner_by_provider_sweep_reports_tokens_and_cost(cli, sandbox: Path, fake_llm: FakeLLM) -> None:
    """``-m tuner=llm,llm_trim tuner.provider=openai,gemini``: one base URL serves both protocols here."""
    pytest.importorskip("smac")
    # a key that is not swept is set with ++ (Hydra composes the sweep's base config with the default tuner)
    result = cli("-m", "tuner=llm,llm_trim", "tuner.provider=openai,gemini", f"++tuner.base_url={fake_llm.url}",
                 "++tuner.model=gpt-4o-mini", "++tuner.backoff_s=0", *QUICK, f"host_root={sandbox}", timeout=900,
                 env=ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    summaries = [json.loads(p.read_text()) for p in cli.cwd.glob("multirun/**/summary.json")]
    assert len(summaries) == 4 and all(s["status"] == "FINISHED" for s in summaries)
    trims = [s["tuner"]["trimming"] for s in summaries if "trimming" in s["tuner"]]
    assert len(trims) == 2 and all(t["windows"] == 1 and t["then"] == "bayesian" for t in trims)
    report = next(cli.cwd.glob("multirun/**/report/report.md")).read_text()
    assert "tokens" in report and "cost" in report and "$0.0" in report
    assert {s["tuner"]["provider"] for s in summaries} == {"openai", "gemini"}
    assert no_secret_under(cli.cwd) == []
