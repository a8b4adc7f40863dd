"""The gain set: run the five gain presets and their limits (or take existing dirs), write docs/results.md.

    python benchmarks/gain_set.py --run [--out DIR] [--presets a,b] [--no-limits] [OVERRIDE ...]
    python benchmarks/gain_set.py --sweep gain_redis=DIR [--limit gain_redis=DIR/limit.json] ...

``--run`` runs ``python -m sematune -m experiment=<preset> hydra.sweep.dir=OUT/<preset>`` and
``benchmarks/gain_limit.py <preset> --out OUT/<preset>_limit`` for each preset (OVERRIDEs are
passed to both, e.g. tiny windows for a smoke test). The tables come from each run's
``summary.json`` verdict (stable phase vs interleaved default windows, bootstrap 95% CI); runs
made before the engine wrote a verdict are scored from ``windows.csv`` (stable windows vs the
default windows) and marked so. Per preset: the defaults, each tuner's stable-phase mean and
gain (mean over seeds, 95% CI over seeds, per-seed CIs), how many runs were significant, the
limit and each tuner's share of the limit's gain, and the A/A noise; then the plots, the exact
commands, the machine and the wall time. ``--results`` (default docs/results.md) is overwritten.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gain_stats import cv, gain_ci  # noqa: E402

PRESETS = ("gain_pgbench_select", "gain_redis", "gain_tpcc_low", "gain_tpcc", "gain_pgbench_sync")
TUNERS = ("fixed", "random", "bayesian", "mlos", "llm")
RUN_DIR = re.compile(r"^\d+_(?P<tuner>[a-z0-9]+)_(?P<target>.+)_s(?P<seed>-?\d+)$")
ROOT = Path(__file__).resolve().parent.parent


# -- reading runs -------------------------------------------------------------------------------
def _windows(run: Path) -> list[dict[str, str]]:
    with open(run / "windows.csv", newline="", encoding="utf-8") as fh:
        return [row for row in csv.DictReader(fh) if row.get("status") == "ok" and row.get("objective")]


def verdict_of(run: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """The run's verdict, or one computed from windows.csv for runs without it (``from_windows``)."""
    if isinstance(summary.get("verdict"), dict):
        return {**summary["verdict"], "from_windows": False}
    goal = summary.get("goal") or "maximize"
    rows = _windows(run)
    has_arm = any(r.get("arm") for r in rows)
    stable = [float(r["objective"]) for r in rows if r["phase"] == "stable" and (not has_arm or r["arm"] == "frozen")]
    dflt = [float(r["objective"]) for r in rows
            if (r["phase"] == "baseline") or (has_arm and r["phase"] == "stable" and r["arm"] == "defaults")]
    out: dict[str, Any] = {"metric": summary.get("objective_metric"), "goal": goal, "from_windows": True,
                           "n_stable": len(stable), "n_defaults": len(dflt), "noise_cv": cv(dflt)}
    if stable and dflt:
        point, low, high = gain_ci(stable, dflt, goal)
        out.update(stable_mean=sum(stable) / len(stable), defaults_mean=sum(dflt) / len(dflt), gain=point,
                   ci_low=low, ci_high=high, significant=low is not None and (low > 0 or high < 0))
    return out


def collect_sweep(sweep: Path) -> list[dict[str, Any]]:
    """One entry per job dir of a Hydra sweep (``<num>_<tuner>_<target>_s<seed>``) with a summary."""
    runs = []
    for path in sorted(p for p in sweep.iterdir() if p.is_dir()):
        match = RUN_DIR.match(path.name)
        summary_file = path / "summary.json"
        if not match or not summary_file.exists():
            continue
        summary = json.loads(summary_file.read_text(encoding="utf-8"))
        run = {"dir": str(path), "tuner": match["tuner"], "target": match["target"], "seed": int(match["seed"]),
               "status": summary.get("status"), "verdict": verdict_of(path, summary)}
        if run["tuner"] == "fixed":  # every window at the defaults: an A/A series of its own
            run["aa_cv"] = cv([float(r["objective"]) for r in _windows(path)])
        runs.append(run)
    return runs


def sweep_wall_s(sweep: Path) -> Optional[float]:
    """From the first job's resolved config to the last job's summary (file times)."""
    starts = [p.stat().st_mtime for p in sweep.glob("*/config_resolved.yaml")]
    ends = [p.stat().st_mtime for p in sweep.glob("*/summary.json")]
    return max(ends) - min(starts) if starts and ends else None


# -- tables -------------------------------------------------------------------------------------
def _pct(x: Optional[float]) -> str:
    return "—" if x is None else f"{x:+.1%}"


def _ci(low: Optional[float], high: Optional[float]) -> str:
    return "—" if low is None or high is None else f"[{low:+.1%}, {high:+.1%}]"


def _num(x: Optional[float]) -> str:
    return "—" if x is None else f"{x:.4g}"


def host_quiet(runs: list[dict[str, Any]]) -> str:
    """How quiet the host was: foreign CPU per window and the 1-minute load, over every window of every run."""
    foreign: list[float] = []
    load: list[float] = []
    contaminated = 0
    for run in runs:
        try:
            with open(Path(run["dir"]) / "windows.csv", newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
        except OSError:
            continue
        for row in rows:
            contaminated += row.get("status") == "contaminated"
            for key, into in (("system.foreign_cpu_s", foreign), ("system.loadavg_1m", load)):
                try:
                    into.append(float(row[key]))
                except (KeyError, TypeError, ValueError):
                    pass
    if not foreign:
        return "Host load: not recorded (probes off)."
    foreign.sort()
    median = foreign[len(foreign) // 2]
    p95 = foreign[min(len(foreign) - 1, round(0.95 * (len(foreign) - 1)))]
    return (f"Host load during the runs ({len(foreign)} windows): foreign CPU per window median {median:.2f} s, "
            f"95th percentile {p95:.2f} s, max {foreign[-1]:.2f} s; 1-minute load average max "
            f"{max(load) if load else float('nan'):.2f}; windows still contaminated after re-measuring: {contaminated}.")


def preset_table(runs: list[dict[str, Any]], limit: Optional[dict[str, Any]]) -> list[str]:
    """Markdown lines: defaults, tuners, limit, noise for one preset."""
    ok = [r for r in runs if r["status"] == "FINISHED" and r["verdict"].get("gain") is not None]
    if not runs:
        return ["No runs found."]
    v0 = runs[0]["verdict"]
    goal = v0.get("goal") or "maximize"
    defaults = [r["verdict"]["defaults_mean"] for r in ok]
    noise = [r["verdict"]["noise_cv"] for r in ok if r["verdict"].get("noise_cv") is not None]
    noise_from = "CV of the default windows, mean over runs"
    if not noise:
        noise = [r["aa_cv"] for r in ok if r.get("aa_cv") is not None]
        noise_from = "CV of all windows of the `fixed` runs, mean over runs"
    limit_gain = None
    if limit:
        limit_gain = limit["candidates"][limit["best"]]["gain"] if limit.get("best") else 0.0
    lines = [f"Objective `{v0.get('metric')}` ({goal}). Defaults (interleaved default windows, mean over runs): "
             f"{_num(sum(defaults) / len(defaults) if defaults else None)}; A/A noise ({noise_from}): "
             f"{'—' if not noise else f'{sum(noise) / len(noise):.1%}'}.", "", host_quiet(runs), ""]
    if any(r["verdict"].get("from_windows") for r in runs):
        lines += ["Runs without an engine verdict were scored from `windows.csv` (stable windows vs the "
                  "default windows of the same run).", ""]
    lines += ["| tuner | runs ok | stable mean | gain (mean of seeds) | 95% CI over seeds | per-seed gain [95% CI] "
              "| significant | share of the limit's gain |", "|---|---|---|---|---|---|---|---|"]
    tuners = [t for t in TUNERS if any(r["tuner"] == t for r in runs)]
    tuners += sorted({r["tuner"] for r in runs} - set(tuners))
    for tuner in tuners:
        mine = [r for r in ok if r["tuner"] == tuner]
        total = sum(1 for r in runs if r["tuner"] == tuner)
        if not mine:
            lines.append(f"| {tuner} | 0/{total} | — | — | — | — | — | — |")
            continue
        gains = [r["verdict"]["gain"] for r in mine]
        mean_gain = sum(gains) / len(gains)
        low = high = None
        if len(gains) >= 2:  # bootstrap of the mean gain over seeds (as a ratio of means of 1+gain)
            _, low, high = gain_ci([1 + g for g in gains], [1.0] * len(gains), "maximize")
        seeds = "; ".join(f"s{r['seed']} {_pct(r['verdict']['gain'])} {_ci(r['verdict'].get('ci_low'), r['verdict'].get('ci_high'))}"
                          for r in sorted(mine, key=lambda r: r["seed"]))
        sig = sum(1 for r in mine if r["verdict"].get("significant"))
        share = f"{mean_gain / limit_gain:.0%}" if limit_gain and limit_gain > 0 else "—"
        stable = sum(r["verdict"]["stable_mean"] for r in mine) / len(mine)
        lines.append(f"| {tuner} | {len(mine)}/{total} | {_num(stable)} | {_pct(mean_gain)} | {_ci(low, high)} | {seeds} "
                     f"| {sig}/{len(mine)} | {share} |")
    if limit and limit.get("best"):
        best = limit["candidates"][limit["best"]]
        knobs = ", ".join(f"{k}={v}" for k, v in limit["configurations"][limit["best"]].items())
        lines += ["", f"Limit (manual search, `benchmarks/gain_candidates.yaml`): **{limit['best']}** ({knobs}): "
                  f"mean {_num(best['mean'])}, gain {_pct(best['gain'])} {_ci(best['ci_low'], best['ci_high'])} over "
                  f"adjacent default windows ({best['pairs']} pairs); A/A CV of its default windows "
                  f"{'—' if limit.get('noise_cv') is None else format(limit['noise_cv'], '.1%')}."]
    elif limit:
        lines += ["", "Limit: the defaults — no candidate of the manual search (`benchmarks/gain_candidates.yaml`) beat "
                  "them with 95% confidence in the preset's windows."]
    if limit:
        others = [f"{n} {_pct(c['gain'])} {_ci(c['ci_low'], c['ci_high'])}" for n, c in limit["candidates"].items()
                  if n != limit.get("best")]
        if others:
            lines.append(f"Other candidates (gain over adjacent defaults, 95% CI): {'; '.join(others)}.")
        if limit.get("skipped"):
            lines.append(f"Skipped on this host: {', '.join(limit['skipped'])}.")
    else:
        lines += ["", "Limit: not measured."]
    return lines


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    mem = next((int(ln.split()[1]) // 1024 for ln in Path("/proc/meminfo").read_text().splitlines()
                if ln.startswith("MemTotal")), 0)
    virt = shutil.which("systemd-detect-virt")
    kind = subprocess.run([virt], capture_output=True, text=True).stdout.strip() if virt else "unknown"
    try:  # "none" means no idle states: halt polling (cpuidle-haltpoll) cannot act on this guest
        idle = Path("/sys/devices/system/cpu/cpuidle/current_driver").read_text().strip()
    except OSError:
        idle = "unknown"
    return (f"{cpu}, {os.cpu_count()} CPUs, {mem} MiB, kernel {platform.release()}, virtualization {kind}, "
            f"cpuidle driver {idle}, load average now {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


def counterbalanced(run: dict[str, Any]) -> Optional[bool]:
    """Whether the run's stable blocks were counterbalanced (its windows record their block)."""
    try:
        with open(Path(run["dir"]) / "history.jsonl", encoding="utf-8") as fh:
            for line in fh:
                record = json.loads(line)
                if record.get("phase") == "stable":
                    return record.get("block") is not None
    except (OSError, ValueError):
        return None
    return None


def aa_check(sets: dict[str, dict[str, Any]]) -> list[str]:
    """Runs that froze the defaults compared the defaults with themselves: their verdicts are an A/A test."""
    lines = []
    for label, want in (("defaults always last in each stable block", False), ("counterbalanced blocks", True)):
        gains, significant = [], 0
        for data in sets.values():
            for run in data["runs"]:
                v = run["verdict"]
                if v.get("frozen") == "defaults" and v.get("gain") is not None and counterbalanced(run) is want:
                    gains.append(v["gain"])
                    significant += bool(v.get("significant"))
        if gains:
            gains.sort()
            lines.append(f"- {label}: {len(gains)} runs, mean gain {_pct(sum(gains) / len(gains))}, median "
                         f"{_pct(gains[len(gains) // 2])}, {sum(g > 0 for g in gains)} positive, {significant} "
                         f"significant at 95% (expected: about 5%, i.e. {0.05 * len(gains):.1f}).")
    if not lines:
        return []
    return ["## A/A check", "",
            "A run that froze the defaults measured the defaults in both arms of its stable phase, so its verdict is "
            "an A/A test: the gain should scatter around 0 and be significant in about 5% of runs.", "", *lines, ""]


def render(sets: dict[str, dict[str, Any]], commands: list[str], wall_s: Optional[float], plots_dir: Path,
           results: Path, notes: Optional[Path] = None) -> str:
    out = ["# Results: what the tuners gain", "",
           "Written by `benchmarks/gain_set.py` from the runs' `summary.json` verdicts; do not edit by hand.",
           f"Machine: {machine()}.",
           f"Wall time of the set: {'—' if wall_s is None else f'{wall_s / 60:.1f} min'}.", ""]
    if notes is not None and notes.exists():  # the reading of these numbers, written by whoever ran them
        out += ["## Reading these results", "", notes.read_text(encoding="utf-8").strip(), ""]
    for preset, data in sets.items():
        out += [f"## {preset}", ""] + preset_table(data["runs"], data.get("limit")) + [""]
        sweep = Path(data["sweep"])
        for plot in ("comparison_bars.png", "objective_per_window.png"):
            src = sweep / "report" / plot
            if src.exists():
                dst = plots_dir / preset / plot
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
                out.append(f"![{preset} {plot}]({os.path.relpath(dst, results.parent)})")
        out.append("")
    out += aa_check(sets)
    out += ["## Commands", "", "```", *commands, "```", ""]
    return "\n".join(out)


def sweep_command(sweep: Path, preset: str) -> str:
    """The overrides the sweep was started with (its ``multirun.yaml``), else ``experiment=<preset>``."""
    try:
        import yaml

        task = yaml.safe_load((sweep / "multirun.yaml").read_text(encoding="utf-8"))["hydra"]["overrides"]["task"]
        return " ".join(str(t) for t in task if not str(t).startswith("hydra.sweep.dir="))
    except (OSError, KeyError, TypeError, ValueError):
        return f"experiment={preset}"


def _pairs(items: list[str], flag: str) -> dict[str, list[Path]]:
    """``PRESET=PATH`` items; a preset given more than once keeps every path, in order."""
    out: dict[str, list[Path]] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep:
            raise SystemExit(f"{flag} {item!r}: expected PRESET=PATH")
        out.setdefault(name, []).append(Path(path))
    return out


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every run (with --run)")
    parser.add_argument("--run", action="store_true", help="run the presets (and limits) now")
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--no-limits", action="store_true")
    parser.add_argument("--limit-pairs", type=int, default=4)
    parser.add_argument("--out", default="gain_set", help="where --run puts the sweeps")
    parser.add_argument("--sweep", action="append", default=[], metavar="PRESET=DIR")
    parser.add_argument("--limit", action="append", default=[], metavar="PRESET=limit.json")
    parser.add_argument("--results", default=str(ROOT / "docs" / "results.md"))
    parser.add_argument("--notes", default=str(ROOT / "benchmarks" / "gain_notes.md"),
                        help="a Markdown file with the reading of the numbers, put under the header")
    args = parser.parse_intermixed_args(argv)
    sweeps, limits = _pairs(args.sweep, "--sweep"), _pairs(args.limit, "--limit")
    commands: list[str] = []
    wall_s: Optional[float] = None
    if args.run:
        out = Path(args.out).resolve()
        # the children import this checkout's sematune, wherever the script is started from
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        started = time.time()
        for preset in args.presets.split(","):
            cmd = [sys.executable, "-m", "sematune", "-m", f"experiment={preset}", f"hydra.sweep.dir={out / preset}",
                   *args.overrides]
            commands.append(" ".join(["python", *cmd[1:]]))
            subprocess.run(cmd, check=False, env=env)
            sweeps.setdefault(preset, []).append(out / preset)
            if not args.no_limits:
                lcmd = [sys.executable, str(ROOT / "benchmarks" / "gain_limit.py"), preset, "--pairs",
                        str(args.limit_pairs), "--out", str(out / f"{preset}_limit"), *args.overrides]
                commands.append(" ".join(["python", *lcmd[1:]]))
                subprocess.run(lcmd, check=False, env=env)
                limits[preset] = [out / f"{preset}_limit" / "limit.json"]
        wall_s = time.time() - started
    if not sweeps:
        parser.error("nothing to tabulate: --run, or --sweep PRESET=DIR")
    sets: dict[str, dict[str, Any]] = {}
    for preset, dirs in sweeps.items():
        limit_file = (limits.get(preset) or [None])[-1]
        limit = json.loads(limit_file.read_text()) if limit_file and limit_file.exists() else None
        missing = [d for d in dirs if not d.is_dir()]
        for sweep in missing:
            print(f"{preset}: no sweep dir {sweep} (the sweep failed to start?)", file=sys.stderr)
        dirs = [d for d in dirs if d.is_dir()]
        if not dirs:
            continue
        runs = [run for sweep in dirs for run in collect_sweep(sweep)]
        sets[preset] = {"sweep": str(dirs[0]), "sweeps": [str(d) for d in dirs], "runs": runs, "limit": limit}
        if not args.run:
            for sweep in dirs:
                commands.append(f"python -m sematune -m {sweep_command(sweep, preset)}   # sweep dir {sweep}")
            if limit:
                commands.append(limit.get("command", f"python benchmarks/gain_limit.py {preset}"))
    if wall_s is None:
        walls = [w for w in (sweep_wall_s(Path(d)) for s in sets.values() for d in s["sweeps"]) if w is not None]
        walls += [s["limit"]["wall_s"] for s in sets.values() if s.get("limit") and s["limit"].get("wall_s")]
        wall_s = sum(walls) if walls else None
    results = Path(args.results)
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(render(sets, commands, wall_s, results.parent / "results", results, Path(args.notes)), encoding="utf-8")
    print(f"wrote {results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
