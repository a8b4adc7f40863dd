"""Secret canaries: a credential in the environment, interpolated into the config, never recorded."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from sematune.engine.records import HistoryWriter, WindowRecord, read_history
from sematune.tracking.redact import MASK, RedactingFilter, redact, redact_overrides, secret_values

CANARY = "sk-canary0123456789abcdefXYZ"
NAMED = "hunter2-canary-value"


def test_redaction_by_key_name_and_by_value(monkeypatch) -> None:
    monkeypatch.setenv("MY_SERVICE_PASSWORD", NAMED)
    monkeypatch.setenv("UNREMARKABLE", CANARY)  # a credential by its shape, whatever its name
    monkeypatch.setenv("PLAIN_SETTING", "not-a-secret-at-all")
    assert set(secret_values()) >= {NAMED, CANARY} and "not-a-secret-at-all" not in secret_values()
    data = {"tuner": {"api_key": "abc", "max_tokens": 512, "prompt": f"use {CANARY}"},
            "osparam": {"vm_swappiness": {"key": "vm.swappiness"}}, "db": {"password": "x", "url": f"u:{NAMED}@h"}}
    out = redact(data)
    assert out["tuner"] == {"api_key": MASK, "max_tokens": 512, "prompt": f"use {MASK}"}
    assert out["osparam"]["vm_swappiness"]["key"] == "vm.swappiness"  # a sysctl's key is no secret
    tags = {"sematune.job_key": "0123abcd", "sematune.sweep_key": "4567ef01"}  # resume matches on these
    assert redact(tags) == tags
    assert out["db"] == {"password": MASK, "url": f"u:{MASK}@h"}
    assert redact_overrides(["tuner.api_key=abc", "+db.token=t", "seed=1"]) == [
        f"tuner.api_key={MASK}", f"+db.token={MASK}", "seed=1"]


def test_log_records_and_history_lines_are_masked(monkeypatch, tmp_path: Path, caplog) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    record = logging.LogRecord("sematune", logging.INFO, __file__, 1, "key is %s", (CANARY,), None)
    RedactingFilter().filter(record)
    assert CANARY not in record.getMessage()
    writer = HistoryWriter(tmp_path / "history.jsonl")
    writer.append(WindowRecord(window=0, phase="tuning", proposed={"note": CANARY}))
    writer.close()
    assert CANARY not in (tmp_path / "history.jsonl").read_text()
    assert read_history(tmp_path / "history.jsonl")[0].proposed == {"note": MASK}


def test_canary_through_the_cli(cli, sandbox: Path) -> None:
    """``${oc.env:…}`` in the config: not in params, tags, config_resolved.yaml (local or artifact), logs."""
    out = cli("experiment=quick", "target=synthetic", "tuner=random", f"host_root={sandbox}",
              "loop.tuning_windows=1", "loop.stable_windows=0", "loop.window_seconds=0.1",
              "sweep_name=${oc.env:SEMATUNE_CANARY_TOKEN}", "hydra.run.dir=run",
              env={"SEMATUNE_CANARY_TOKEN": CANARY})
    assert out.returncode == 0, out.stderr
    assert CANARY not in out.stdout + out.stderr
    run = cli.cwd / "run"
    for path in run.rglob("*"):
        if path.is_file() and ".hydra" not in path.parts:
            assert CANARY.encode() not in path.read_bytes(), path
    assert f"sweep_name: '{MASK}'" in (run / "config_resolved.yaml").read_text()
    with sqlite3.connect(cli.cwd / "mlflow.db") as conn:
        for table in ("params", "tags"):
            assert not conn.execute(f"select key from {table} where value like ?", (f"%{CANARY}%",)).fetchall()
    for artifact in (cli.cwd / "mlruns").rglob("*") if (cli.cwd / "mlruns").exists() else []:
        if artifact.is_file():
            assert CANARY.encode() not in artifact.read_bytes(), artifact


def test_a_secret_typed_on_the_command_line_leaves_no_trace_in_hydras_records(cli, sandbox: Path) -> None:
    """``+tuner.api_key=sk-…`` in a sweep: Hydra writes ``multirun.yaml`` and each job's
    ``.hydra/{overrides,hydra,config}.yaml`` before the task runs; all are rewritten masked."""
    out = cli("-m", "experiment=quick", "target=synthetic", "tuner=random", f"host_root={sandbox}",
              "tracking.enabled=false", f"+tuner.api_key={CANARY}", "+tuner.password=pw-canary-1", "hydra.sweep.dir=sweep")
    assert CANARY not in out.stdout + out.stderr
    sweep = cli.cwd / "sweep"
    hydra_dir = next(sweep.glob("0_*/.hydra"))
    assert sorted(p.name for p in hydra_dir.iterdir()) == ["config.yaml", "hydra.yaml", "overrides.yaml"]
    for path in sweep.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes() and b"pw-canary-1" not in path.read_bytes(), path
    assert f"+tuner.api_key={MASK}" in (hydra_dir / "overrides.yaml").read_text()
    assert "api_key: '***'" in (hydra_dir / "config.yaml").read_text()
    assert "api_key: '***'" in (sweep / "multirun.yaml").read_text()
