"""The LLM tuners' costs: the local model's latency and tokens per call, and the engine's overhead per
window in the single and the dual loop.

Drives the real engine in-process (Hydra compose → components → ``Engine.run``) on the synthetic
target and a sandbox copy of this host's knob files, tracking off:

* ``calls``: ``tuner=llm tuner.provider=local`` (SmolLM2-135M through xllamacpp) for ``--windows``
  instant windows on each knob set; per call: wall time, input and output tokens (from the server).
* ``loops``: single vs dual loop on windows of ``--window-seconds`` real seconds, with the local
  model (fast and slow are the same model here: the slow request competes for the same two CPUs) and
  with a scripted server whose slow model thinks ``--slow-s`` seconds (the engine's own overhead,
  no CPU contention). Per window: the tuner's share of the window boundary (``time/ask_s``: what a
  window waits for the tuner) and the slow answers applied / stale.

    python benchmarks/llm_overhead.py --json benchmarks/results/llm.json --markdown benchmarks/results/llm.md
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_module

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from sematune.components import build_components  # noqa: E402
from sematune.engine.loop import Engine  # noqa: E402
from sematune.engine.records import HistoryWriter  # noqa: E402
from sematune.osparams.sandbox import make_sandbox  # noqa: E402
from bench_output import write_outputs  # noqa: E402


def run(host_root: Path, work: Path, overrides: list[str]) -> tuple[list[Any], Any]:
    """One engine run; returns the records and the tuner (closed)."""
    base = [f"host_root={host_root}", "osparam_skip_unavailable=true", "target=synthetic", "probes=false",
            "tracking.enabled=false", "loop.stable_windows=0", "loop.settle_seconds=0", "tuner.gist=false"]
    with initialize_config_module("sematune.conf", version_base="1.3"):
        cfg = compose("config", overrides=[*base, *overrides])
    c = build_components(cfg)
    c.target.results_dir = work / f"run-{time.monotonic_ns()}"
    c.target.space = c.space
    c.tuner.results_dir = c.target.results_dir / "tuner"
    c.target.pre_execute()
    history = HistoryWriter(c.target.results_dir / "history.jsonl")
    engine = Engine(space=c.space, target=c.target, tuner=c.tuner, objective=c.objective, settings=c.settings.loop,
                    history=history)
    try:
        records = engine.run()
    finally:
        history.close()
        c.space.apply(engine.defaults, engine.current)
        c.tuner.close()
        c.target.cleanup()
    return records, c.tuner


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def calls_row(knob_set: str, tuner: Any) -> dict[str, Any]:
    records = [r for r in tuner.caller.records if r.role == "single"]
    ok = [r for r in records if r.ok]
    lat = [r.latency_s for r in records]
    return {"set": knob_set, "knobs": len(tuner.space), "calls": len(records), "ok": len(ok),
            "latency_median_s": statistics.median(lat), "latency_p90_s": pct(lat, 0.9),
            "input_tokens_median": statistics.median(r.input_tokens for r in records),
            "output_tokens_median": statistics.median(r.output_tokens for r in records),
            "tokens_per_s": sum(r.output_tokens for r in records) / max(sum(lat), 1e-9)}


def loop_row(label: str, records: list[Any], tuner: Any) -> dict[str, Any]:
    tuning = [r for r in records if r.phase == "tuning"]
    ask = [r.timings.get("ask_s", 0.0) for r in tuning]
    boundary = [sum(v for k, v in r.timings.items() if k != "measure_s") for r in tuning]
    measure = [r.timings.get("measure_s", 0.0) for r in tuning]
    return {"case": label, "windows": len(tuning), "ask_median_s": statistics.median(ask), "ask_max_s": max(ask),
            "boundary_median_s": statistics.median(boundary), "measure_median_s": statistics.median(measure),
            "slow": dict(getattr(tuner, "slow_stats", {})) if tuner.loop == "dual" else None}


def markdown(calls: list[dict[str, Any]], loops: list[dict[str, Any]], window_s: float) -> str:
    lines = ["Local model (SmolLM2-135M-Instruct Q4_1 via xllamacpp), one call per tuning window:", "",
             "| knob set | knobs | calls (ok) | latency median / p90 s | input tokens | output tokens | output tok/s |",
             "|---|---|---|---|---|---|---|"]
    for r in calls:
        lines.append(f"| {r['set']} | {r['knobs']} | {r['calls']} ({r['ok']}) | {r['latency_median_s']:.2f} / "
                     f"{r['latency_p90_s']:.2f} | {r['input_tokens_median']:.0f} | {r['output_tokens_median']:.0f} | "
                     f"{r['tokens_per_s']:.0f} |")
    lines += ["", f"Engine per tuning window ({window_s:g} s windows): what a window boundary waits for the tuner "
              "(`ask`), the whole boundary (ask, validate, apply, settle, tracking) and the measurement:", "",
              "| case | windows | ask median / max s | boundary median s | measure median s | slow answers |",
              "|---|---|---|---|---|---|"]
    for r in loops:
        slow = "—" if not r["slow"] else ", ".join(f"{k} {v}" for k, v in r["slow"].items())
        lines.append(f"| {r['case']} | {r['windows']} | {r['ask_median_s']:.3f} / {r['ask_max_s']:.3f} | "
                     f"{r['boundary_median_s']:.3f} | {r['measure_median_s']:.3f} | {slow} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["default", "all"])
    parser.add_argument("--windows", type=int, default=10)
    parser.add_argument("--loop-windows", type=int, default=12)
    parser.add_argument("--window-seconds", type=float, default=2.0)
    parser.add_argument("--slow-s", type=float, default=5.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from tests.llm.fake_llm import FakeLLM

    calls, loops = [], []
    with tempfile.TemporaryDirectory(prefix="sematune-llm-bench-") as tmp:
        host_root = Path(tmp) / "host"
        make_sandbox(host_root)
        for knob_set in args.sets:
            _, tuner = run(host_root, Path(tmp), [f"osparam={knob_set}", "tuner=llm", "tuner.provider=local",
                                                  f"loop.tuning_windows={args.windows}",
                                                  "target.window_time_scale=0"])
            calls.append(calls_row(knob_set, tuner))
            print(calls[-1], file=sys.stderr, flush=True)
        timed = [f"loop.tuning_windows={args.loop_windows}", f"loop.window_seconds={args.window_seconds}",
                 "target.window_time_scale=1", "osparam=default"]
        for loop in ("single", "dual"):
            records, tuner = run(host_root, Path(tmp), ["tuner=llm", "tuner.provider=local", f"tuner.loop={loop}",
                                                        *timed])
            loops.append(loop_row(f"local model, {loop}", records, tuner))
            print(loops[-1], file=sys.stderr, flush=True)
        with FakeLLM() as server:
            server.delays["slow"] = args.slow_s
            for loop in ("single", "dual"):
                model = "slow" if loop == "single" else "fast"
                records, tuner = run(host_root, Path(tmp), [
                    "tuner=llm", "tuner.provider=openai", f"tuner.base_url={server.url}/v1", f"tuner.model={model}",
                    "tuner.slow_model=slow", f"tuner.loop={loop}", *timed])
                loops.append(loop_row(f"scripted server (slow model {args.slow_s:g} s), {loop}", records, tuner))
                print(loops[-1], file=sys.stderr, flush=True)
    table = markdown(calls, loops, args.window_seconds)
    write_outputs(table, {"calls": calls, "loops": loops}, args.json, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
