"""A small fixed sweep written to disk the way Hydra and the engine lay it out.

Grid (``multirun.yaml``): ``target=alpha,beta tuner=fixed,smart seed=1,2,3`` — twelve jobs, of
which eight have run dirs: alpha and beta × fixed and smart × seeds 1, 2, plus a FAILED
``beta smart 3``. The other three are missing. alpha maximises ``throughput``, beta minimises
``latency_p95``. Each history: window 0 baseline, windows 1–2 tuning, windows 3–4 stable.
``smart`` proposals carry token usage (as an LLM tuner's would).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import yaml

from sematune.engine.records import TunerInfo, WindowRecord
from sematune.targets.base import BenchmarkMetrics
from sematune.tuners.base import TokenUsage

GRID = ["target=alpha,beta", "tuner=fixed,smart", "seed=1,2,3"]
OBJECTIVE = {"alpha": ("throughput", "maximize"), "beta": ("latency_p95", "minimize")}
PHASES = ["baseline", "tuning", "tuning", "stable", "stable"]

# (target, tuner, seed): (status, objectives per window (None = failed window), tokens per tuning window)
JOBS: dict[tuple[str, str, int], tuple[str, Sequence[Optional[float]], Optional[tuple[int, int, int, float]]]] = {
    ("alpha", "fixed", 1): ("FINISHED", [100, 100, 80, 100, 100], None),
    ("alpha", "fixed", 2): ("FINISHED", [100, 120, 100, 120, 120], None),
    ("alpha", "smart", 1): ("FINISHED", [100, 90, 130, 130, 134], (100, 20, 5, 0.01)),
    ("alpha", "smart", 2): ("FINISHED", [100, None, 150, 140, 144], (150, 30, 0, 0.015)),
    ("beta", "fixed", 1): ("FINISHED", [10, 10, 12, 10, 10], None),
    ("beta", "fixed", 2): ("FINISHED", [10, 11, 9, 12, 12], None),
    ("beta", "smart", 1): ("FINISHED", [10, 13, 8, 8, 8], None),
    ("beta", "smart", 2): ("FINISHED", [10, 12, 10, 9, 11], None),
    ("beta", "smart", 3): ("FAILED", [10, 4, 4], (1000, 0, 0, 0.5)),
}


def records(target: str, objectives: Sequence[Optional[float]],
            tokens: Optional[tuple[int, int, int, float]]) -> list[WindowRecord]:
    metric, _ = OBJECTIVE[target]
    out = []
    for window, value in enumerate(objectives):
        phase = PHASES[window]
        usage = None
        if tokens is not None and phase == "tuning":
            usage = TokenUsage(input_tokens=tokens[0], output_tokens=tokens[1], thinking_tokens=tokens[2],
                               cost_usd=tokens[3])
        knob = 20 if phase == "baseline" else 10 + window
        if value is None:
            out.append(WindowRecord(window=window, phase=phase, status="failed", error="target failed",
                                    applied={"vm_swappiness": knob}, tuner=TunerInfo(token_usage=usage)))
            continue
        metrics = BenchmarkMetrics(**{metric: float(value)})
        out.append(WindowRecord(
            window=window, phase=phase, status="ok", objective=float(value),
            reward=float(value) if target == "alpha" else -float(value), metrics=metrics,
            applied={"vm_swappiness": knob, "thp_enabled": "always" if window % 2 else "madvise"},
            tuner=TunerInfo(token_usage=usage),
        ))
    return out


def write_sweep(root: Path) -> Path:
    """Write the sweep dir; return it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {"overrides": {"task": GRID}}}))
    num = 0
    for (target, tuner, seed), (status, objectives, tokens) in JOBS.items():
        job = root / f"{num}_{tuner}_{target}_s{seed}"
        num += 1
        (job / ".hydra").mkdir(parents=True)
        overrides = [f"target={target}", f"tuner={tuner}", f"seed={seed}"]
        (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
        (job / ".hydra" / "hydra.yaml").write_text(
            yaml.safe_dump({"hydra": {"runtime": {"choices": {"target": target, "tuner": tuner}}}}))
        (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"seed": seed}))
        with open(job / "history.jsonl", "w") as fh:
            for record in records(target, objectives, tokens):
                fh.write(record.model_dump_json() + "\n")
        metric, goal = OBJECTIVE[target]
        (job / "summary.json").write_text(json.dumps({"status": status, "objective_metric": metric, "goal": goal}))
    return root
