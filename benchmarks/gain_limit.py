"""The empirical limit of a gain preset: a documented manual search, measured like the tuners.

    python benchmarks/gain_limit.py gain_pgbench_select [--pairs 4] [--candidates a,b]
                                    [--out DIR] [OVERRIDE ...]       # e.g. loop.window_seconds=0.5

The candidates and the reasoning behind each are in ``benchmarks/gain_candidates.yaml``. The
script composes the preset (``experiment=<name>``: the same target, windows and settle time the
tuners get), knob set ``osparam=all``, and runs the real engine with a schedule instead of a
tuner: ``--pairs`` times per candidate, a default window and a candidate window next to each
other (order alternating), so drift cancels in the paired comparison. Per candidate it reports
the mean objective, its gain over the adjacent defaults with a bootstrap 95% CI (pairs
resampled), and as the limit the best candidate whose CI lies above zero (none: the defaults
are the limit, gain 0); ``limit.json`` in ``--out`` is what
``gain_set.py`` reads. Knobs are restored by the session as in any run (the host lock is taken;
runs on the real host need root; ``host_root=DIR`` runs on a sandbox tree).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gain_stats import cv, gain_ci  # noqa: E402

from sematune.components import build_components  # noqa: E402
from sematune.engine.session import RunSession  # noqa: E402
from sematune.osparams.base import Value  # noqa: E402
from sematune.targets.base import BenchmarkMetrics  # noqa: E402
from sematune.targets.probes import default_probes  # noqa: E402
from sematune.tracking.recorder import RunRecorder  # noqa: E402
from sematune.tuners.base import Tuner, TunerResponse  # noqa: E402

CANDIDATES = Path(__file__).with_name("gain_candidates.yaml")
DEFAULTS = "defaults"


class ScheduleTuner(Tuner):
    """Proposes a fixed sequence of configurations (``None``: the host defaults), one per window."""

    def __init__(self, *, schedule: list[tuple[str, Optional[dict[str, Value]]]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.schedule = schedule

    def suggest_parameters(self, metrics: Optional[BenchmarkMetrics], current_params: Mapping[str, Value],
                           iteration: int, best_reward: float = 0.0, **kwargs: Any) -> TunerResponse:
        label, values = self.schedule[iteration - 1]
        params = dict(kwargs.get("defaults") or {}) if values is None else {**kwargs.get("defaults", {}), **values}
        return TunerResponse(parameters=params, confidence=1.0, justification=label)


def make_schedule(names: list[str], pairs: int) -> list[tuple[str, Optional[dict[str, Value]]]]:
    """``pairs`` rounds over the candidates; each a (defaults, candidate) pair, order alternating."""
    out: list[tuple[str, Optional[str]]] = []
    for rep in range(pairs):
        for name in names:
            pair = [(DEFAULTS, None), (name, name)]
            out += pair if rep % 2 == 0 else pair[::-1]
    return out  # type: ignore[return-value]


def analyse(labels: list[str], values: list[Optional[float]], goal: str) -> dict[str, Any]:
    """Per candidate: mean, gain over the adjacent defaults with a paired bootstrap CI; the best."""
    pairs: dict[str, tuple[list[float], list[float]]] = {}
    for i in range(0, len(labels) - 1, 2):
        (la, va), (lb, vb) = (labels[i], values[i]), (labels[i + 1], values[i + 1])
        name, cand, dflt = (lb, vb, va) if la == DEFAULTS else (la, va, vb)
        if cand is None or dflt is None:
            continue  # a failed window drops its pair
        pairs.setdefault(name, ([], []))
        pairs[name][0].append(cand)
        pairs[name][1].append(dflt)
    rows = {}
    for name, (cand, dflt) in pairs.items():
        point, low, high = gain_ci(cand, dflt, goal, paired=True)
        rows[name] = {"mean": sum(cand) / len(cand), "defaults_mean": sum(dflt) / len(dflt), "gain": point,
                      "ci_low": low, "ci_high": high, "pairs": len(cand),
                      "significant": low is not None and low > 0}
    defaults_all = [v for lab, v in zip(labels, values) if lab == DEFAULTS and v is not None]
    # The limit is the best candidate that beat the defaults with 95% confidence (none: the defaults).
    better = [n for n in rows if rows[n]["significant"]]
    best = max(better, key=lambda n: rows[n]["gain"]) if better else None
    top = max(rows, key=lambda n: rows[n]["gain"]) if rows else None
    return {"goal": goal, "candidates": rows, "best": best, "best_point": top, "noise_cv": cv(defaults_all),
            "defaults_mean": sum(defaults_all) / len(defaults_all) if defaults_all else None}


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset", help="a conf/experiment gain preset, e.g. gain_pgbench_select")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides (loop.window_seconds=…, host_root=…)")
    parser.add_argument("--pairs", type=int, default=4, help="default/candidate window pairs per candidate")
    parser.add_argument("--candidates", default=None, help="comma-separated subset of the preset's candidates")
    parser.add_argument("--out", default=None, help="output dir (limit.json, run dir)")
    args = parser.parse_intermixed_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(levelname)s] %(message)s", datefmt="%H:%M:%S")
    table = yaml.safe_load(CANDIDATES.read_text(encoding="utf-8"))
    if args.preset not in table:
        parser.error(f"no candidates for {args.preset!r} in {CANDIDATES.name}; have {', '.join(table)}")
    wanted = table[args.preset]
    if args.candidates:
        unknown = sorted(set(args.candidates.split(",")) - set(wanted))
        if unknown:
            parser.error(f"--candidates: unknown {unknown}; {args.preset} has {', '.join(wanted)}")
        wanted = {k: wanted[k] for k in args.candidates.split(",")}
    out = Path(args.out or tempfile.mkdtemp(prefix=f"st-limit-{args.preset}-"))
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    base = [f"experiment={args.preset}", "tuner=fixed", "osparam=all", "osparam_skip_unavailable=true",
            *args.overrides]
    with initialize_config_module(config_module="sematune.conf", version_base="1.3"):
        c = build_components(compose(config_name="config", overrides=base))
    names, skipped = [], {}
    for name, knobs in wanted.items():
        missing = sorted(set(knobs) - set(c.space.names))
        if missing:
            skipped[name] = f"knobs not available on this host: {missing}"
        else:
            names.append(name)
    for name, why in skipped.items():
        print(f"skipping {name}: {why}")
    if not names:
        print("no candidate can run on this host")
        return 1
    schedule_names = make_schedule(names, args.pairs)
    schedule = [(label, None if key is None else {k: c.space[k].coerce(v) for k, v in wanted[key].items()})
                for label, key in schedule_names]
    with initialize_config_module(config_module="sematune.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            *base, f"loop.tuning_windows={len(schedule)}", "loop.stable_windows=0"])
    c = build_components(cfg)
    c.tuner = ScheduleTuner(space=c.space, goal=c.objective.goal, schedule=schedule)
    recorder = RunRecorder(c, out / "run", run_name=f"limit-{args.preset}", params={}, tags={},
                           resolved_config=OmegaConf.to_yaml(cfg))
    session = RunSession(c, out / "run", recorder, run_name=f"limit-{args.preset}", probes=default_probes())
    code = session.run()
    records = [r for r in (session.engine.records if session.engine else []) if r.phase == "tuning"]
    if code != 0 or len(records) != len(schedule):
        print(f"the run failed (exit {code}, {len(records)} of {len(schedule)} windows); see {out / 'run'}")
        return code or 1
    result = analyse([lab for lab, _ in schedule], [r.objective if r.scored else None for r in records],
                     c.objective.goal)
    result.update(preset=args.preset, metric=c.objective.metric, skipped=skipped, pairs=args.pairs,
                  window_seconds=c.settings.loop.window_seconds, settle_seconds=c.settings.loop.settle_seconds,
                  configurations={n: wanted[n] for n in names}, wall_s=round(time.time() - started, 1),
                  command=" ".join(["python", "benchmarks/gain_limit.py", *(argv or sys.argv[1:])]))
    (out / "limit.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(f"\n{args.preset}: {c.objective.metric} ({c.objective.goal}), defaults mean {result['defaults_mean']:.4g}, "
          f"A/A CV of the default windows {result['noise_cv'] or float('nan'):.1%}")
    for name, row in sorted(result["candidates"].items(), key=lambda kv: -kv[1]["gain"]):
        ci = "—" if row["ci_low"] is None else f"[{row['ci_low']:+.1%}, {row['ci_high']:+.1%}]"
        print(f"  {name:28s} mean {row['mean']:10.4g}  gain {row['gain']:+7.1%}  95% CI {ci}  ({row['pairs']} pairs)")
    if result["best"]:
        print(f"limit: {result['best']} {wanted[result['best']]}; written to {out / 'limit.json'}")
    else:
        print(f"limit: the defaults (no candidate beat them with 95% confidence); written to {out / 'limit.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
