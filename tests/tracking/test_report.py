"""The report's numbers against values worked out by hand from a small fixed sweep on disk."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from sematune.report import write_report
from sematune.tracking.comparison import build_report
from sematune.tracking.comparison_model import JobRun
from sematune.tracking.comparison_render import print_table, sweep_description, table, table_text, to_markdown
from sematune.tracking.sweep_runs import job_key, load_sweep_dir, sweep_key
from tests.conftest import run_cli
from tests.tracking.fixture_sweep import records, write_sweep


def sample_sd(values: list[float]) -> float:
    m = sum(values) / len(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    return write_sweep(tmp_path / "multirun" / "2026-01-01" / "12-00-00")


@pytest.fixture
def report(sweep: Path):
    return build_report(load_sweep_dir(sweep).jobs, n_boot=2000, seed=0)


def test_jobs_expected_from_the_grid_missing_and_failed_are_kept(sweep: Path) -> None:
    runs = load_sweep_dir(sweep)
    assert len(runs.jobs) == 12  # 2 targets × 2 tuners × 3 seeds
    status = {(j.target, j.tuner, j.seed): j.status for j in runs.jobs}
    assert status[("alpha", "fixed", 3)] == status[("alpha", "smart", 3)] == status[("beta", "fixed", 3)] == "MISSING"
    assert status[("beta", "smart", 3)] == "FAILED"
    assert sum(s == "FINISHED" for s in status.values()) == 8


def test_maximised_target_by_hand(report) -> None:
    alpha = next(t for t in report.targets if t.target == "alpha")
    assert (alpha.metric, alpha.goal, alpha.baseline_arm) == ("throughput", "maximize", "fixed")
    assert alpha.baseline == pytest.approx((100 + 120) / 2)  # fixed runs' stable means: 100 and 120
    smart = report.cell("alpha", "smart")
    assert (smart.expected, smart.counted, smart.failed, smart.missing) == (3, 2, 0, 1)
    assert smart.mean == pytest.approx((132 + 142) / 2)  # stable (130, 134) and (140, 144)
    assert smart.relative == pytest.approx(137 / 110)
    # 2 seeds a side: the bootstrap means take 3 values each, the extreme ratios have p = 1/16 > 2.5%,
    # so the 95% percentile interval is exactly [min arm / max baseline, max arm / min baseline].
    assert smart.ci_low == pytest.approx(132 / 120)
    assert smart.ci_high == pytest.approx(142 / 100)
    rob = smart.robustness
    # tuning windows: 90 (worse than 0.9 × 110 = 99), 130, a failed one, 150
    assert (rob.tuning_windows, rob.scored, rob.worse, rob.failed) == (4, 3, 1, 1)
    assert rob.worse_share == pytest.approx(1 / 3)
    assert rob.failed_share == pytest.approx(1 / 4)
    assert rob.spread == pytest.approx(sample_sd([90 / 110, 130 / 110, 150 / 110]))
    assert rob.worst == pytest.approx(90 / 110)
    tokens = smart.tokens
    # seed 1: 2 tuning windows × (100 in, 20 out, 5 think, $0.01); seed 2: 2 × (150, 30, 0, $0.015)
    assert (tokens.input, tokens.output, tokens.thinking, tokens.runs) == (500, 100, 10, 2)
    assert tokens.cost_usd == pytest.approx(0.05)
    fixed = report.cell("alpha", "fixed")
    assert fixed.is_baseline and fixed.relative == 1.0 and fixed.ci_low is None and fixed.tokens is None
    assert (fixed.robustness.scored, fixed.robustness.worse) == (4, 1)  # 100, 80 (worse), 120, 100


def test_minimised_target_by_hand(report) -> None:
    beta = next(t for t in report.targets if t.target == "beta")
    assert (beta.goal, beta.baseline) == ("minimize", pytest.approx(11.0))  # fixed stable means 10 and 12
    smart = report.cell("beta", "smart")
    assert (smart.expected, smart.counted, smart.failed, smart.missing) == (3, 2, 1, 0)
    assert smart.mean == pytest.approx(9.0)  # stable (8, 8) and (9, 11); the FAILED run does not count
    assert smart.relative == pytest.approx(11 / 9)  # lower is better: baseline / arm
    assert smart.ci_low == pytest.approx(10 / 10)  # min baseline / max arm
    assert smart.ci_high == pytest.approx(12 / 8)  # max baseline / min arm
    rob = smart.robustness
    # tuning windows of the counted runs: 13 (worse than 1.1 × 11 = 12.1), 8, 12, 10
    assert (rob.tuning_windows, rob.scored, rob.worse, rob.failed) == (4, 4, 1, 0)
    assert rob.spread == pytest.approx(sample_sd([11 / 13, 11 / 8, 11 / 12, 11 / 10]))
    assert rob.worst == pytest.approx(11 / 13)
    # the failed seed-3 run spent tokens too: 2 tuning windows × (1000 in, $0.5)
    assert (smart.tokens.input, smart.tokens.runs, smart.tokens.cost_usd) == (2000, 1, pytest.approx(1.0))


def test_geometric_mean_and_best_runs(report) -> None:
    geo = next(g for g in report.geomeans if g.arm == "smart")
    assert geo.targets == ["alpha", "beta"] and geo.missing_targets == []
    assert geo.relative == pytest.approx(math.sqrt(137 / 110 * 11 / 9))
    assert math.sqrt(1.1 * 1.0) - 1e-9 <= geo.ci_low < geo.relative < geo.ci_high <= math.sqrt(1.42 * 1.5) + 1e-9
    assert [g.arm for g in report.geomeans] == ["smart"]  # the baseline is not compared with itself
    best = {b.target: b for b in report.best}
    assert (best["alpha"].arm, best["alpha"].seed, best["alpha"].score) == ("smart", 2, pytest.approx(142))
    assert (best["beta"].seed, best["beta"].score) == (1, pytest.approx(8))  # lowest latency wins
    assert best["alpha"].knobs["vm_swappiness"] == [20, 11, 12, 13, 14]
    assert best["alpha"].knobs["thp_enabled"][1] is None  # not recorded in the failed window: a gap, not a value
    series = next(s for s in report.series if s.target == "alpha" and s.arm == "smart")
    assert series.median[2] == pytest.approx(140) and (series.low[2], series.high[2]) == (130, 150)
    assert series.median[1] == 90  # the failed window of seed 2 is not a zero


def test_rebuilding_gives_the_same_numbers(sweep: Path) -> None:
    one = build_report(load_sweep_dir(sweep).jobs, seed=0)
    two = build_report(load_sweep_dir(sweep).jobs, seed=0)
    assert one.model_dump() == two.model_dump()


def test_failed_and_missing_are_shown_as_such_never_as_zero(report, tmp_path: Path) -> None:
    rows = {(r.target, r.arm, r.seed): r for r in report.runs}
    assert rows[("beta", "smart", 3)].status == "FAILED" and rows[("beta", "smart", 3)].score is None
    assert rows[("alpha", "fixed", 3)].status == "MISSING" and not rows[("alpha", "fixed", 3)].counted
    header, body = table(report)
    text = {(r[0], r[1]): dict(zip(header, r)) for r in body}
    assert text[("alpha", "smart")]["runs ok"] == "2/3 (1 missing)"
    assert text[("beta", "smart")]["runs ok"] == "2/3 (1 failed)"
    assert text[("alpha", "smart")]["vs fixed"] == "+24.5%"
    assert text[("alpha", "smart")]["95% CI"] == "[+10.0%, +42.0%]"
    assert text[("beta", "smart")]["95% CI"] == "[+0.0%, +50.0%]"
    assert text[("alpha", "smart")]["tuning worse >10%"] == "33% of 3, 1 failed"
    assert text[("alpha", "smart")]["tokens"] == "500 in / 100 out / 10 think"
    assert text[("alpha", "smart")]["cost"] == "$0.0500"
    assert text[("alpha", "fixed")]["tokens"] == "—"
    assert text[("geo-mean", "smart")]["vs fixed"] == f"{(math.sqrt(137 / 110 * 11 / 9) - 1) * 100:+.1f}%"
    md = to_markdown(report, [])
    assert "| beta | smart | 3 | FAILED |" in md and "| alpha | fixed | 3 | MISSING |" in md


def test_no_baseline_runs_means_no_relative_scores() -> None:
    runs = [JobRun(key=job_key(["tuner=smart", f"seed={s}"]), overrides=("tuner=smart", f"seed={s}"),
                   status="FINISHED", target="alpha", tuner="smart", seed=s, metric="throughput", goal="maximize",
                   records=records("alpha", [100, 90, 130, 130, 134], None)) for s in (1, 2)]
    report = build_report(runs)
    cell = report.cell("alpha", "smart")
    assert cell.mean == pytest.approx(132) and cell.relative is None and cell.ci_low is None
    assert cell.robustness.reference_source == "own baseline window"  # each run against its window 0
    assert cell.robustness.worse == 0  # 90 is not below 0.9 × 100
    assert any("no `fixed` runs" in n for n in report.notes)
    assert report.geomeans[0].relative is None


def test_swept_extra_keys_split_arms_and_targets() -> None:
    def run(tuner: str, extra: str, seed: int) -> JobRun:
        overrides = (f"tuner={tuner}", extra, f"seed={seed}", "host_root=/tmp/h" + str(seed))
        return JobRun(key=job_key(overrides), overrides=overrides, status="FINISHED", target="alpha", tuner=tuner,
                      seed=seed, metric="throughput", goal="maximize",
                      records=records("alpha", [100, 100, 100, 100, 100], None))
    report = build_report([run("fixed", "osparam=vm", 1), run("random", "osparam=vm", 1),
                           run("random", "osparam=sched", 1), run("fixed", "osparam=sched", 1)])
    assert sorted(report.arms) == ["fixed [osparam=sched]", "fixed [osparam=vm]", "random [osparam=sched]",
                                   "random [osparam=vm]"]  # host_root varies per job but is placement only


def test_job_identity_ignores_bookkeeping_keys() -> None:
    assert job_key(["tuner=fixed", "seed=1"]) == job_key(["seed=1", "tuner=fixed", "resume=true",
                                                          "tracking.tracking_uri=http://x", "host_root=/tmp/a"])
    assert job_key(["tuner=fixed", "seed=1"]) != job_key(["tuner=fixed", "seed=2"])
    assert sweep_key(["tuner=fixed,random", "seed=1,2"]) == sweep_key(["seed=2,1", "tuner=random,fixed", "resume=true"])


def test_files_are_written_and_link_the_plots(sweep: Path, tmp_path: Path) -> None:
    report, files, _ = write_report(load_sweep_dir(sweep), tmp_path / "out")
    names = {p.name for p in files}
    assert {"report.html", "report.md", "report.json", "comparison_bars.png", "objective_per_window.png",
            "knobs_best_alpha.png", "knobs_best_beta.png"} <= names
    for p in files:
        assert p.stat().st_size > 0
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "out" / "report.md").read_text()
    assert "(comparison_bars.png)" in md and "(knobs_best_beta.png)" in md
    html = (tmp_path / "out" / "report.html").read_text()
    assert "href='objective_per_window.png'" in html and "data:image/png;base64," in html
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert data["cells"][1]["relative"] == pytest.approx(137 / 110)


def test_report_cli_on_a_sweep_dir(sweep: Path, tmp_path: Path) -> None:
    res = run_cli([str(sweep)], tmp_path, module="sematune.report", timeout=180)
    assert res.returncode == 0, res.stderr
    assert "+24.5%" in res.stdout and "geo-mean" in res.stdout and "MISSING" in res.stdout
    assert (sweep / "report" / "report.html").exists()
    missing = run_cli([str(tmp_path / "nope")], tmp_path, module="sematune.report")
    assert missing.returncode == 2 and "no sweep directory" in missing.stderr


@pytest.mark.parametrize("width", [80, 120])
def test_table_fits_the_terminal_and_cuts_nothing(report, width: int) -> None:
    text = table_text(report, width)
    assert max(len(line.rstrip()) for line in text.splitlines()) <= width
    header, rows = table(report)
    flat = " ".join(text.split())
    for row in rows:  # every cell is shown whole (folded onto a next line at most, never cut with …)
        for cell in row:
            assert all(word in flat for word in cell.split()), (cell, text)
    assert "…" not in text


def test_table_in_a_log_file_is_whole(report, tmp_path: Path) -> None:
    from rich.console import Console

    with open(tmp_path / "sweep.log", "w", encoding="utf-8") as fh:
        print_table(report, Console(file=fh, width=120, color_system=None))
    text = (tmp_path / "sweep.log").read_text()
    assert "[+10.0%, +42.0%]" in text and "500 in / 100 out / 10 think" in text


def test_sweep_description_links_the_plots(report) -> None:
    note = sweep_description(report, [("Improvement over the baseline", "comparison_bars.png")],
                             experiment_id="7", run_id="abc")
    assert "| alpha | smart |" in note and "+24.5%" in note and "geo-mean" in note
    assert "(#/experiments/7/runs/abc/artifacts/report/comparison_bars.png?workflowType=machine_learning)" in note
    assert "report.html" in note


def test_verdict_column_frozen_vs_interleaved_defaults_by_hand() -> None:
    from sematune.engine.records import WindowRecord
    from sematune.targets.base import BenchmarkMetrics

    def run(seed: int, stable: list[tuple[str, float]]) -> JobRun:
        recs = [WindowRecord(window=0, phase="baseline", objective=100.0, reward=100.0, applied={"k": 1},
                             metrics=BenchmarkMetrics(throughput=100.0))]
        for i, (arm, value) in enumerate(stable, 1):
            recs.append(WindowRecord(window=i, phase="stable", arm=arm, objective=value, reward=value,
                                     applied={"k": 1 if arm == "defaults" else 2},
                                     metrics=BenchmarkMetrics(throughput=value)))
        return JobRun(key=job_key(["tuner=smart", f"seed={seed}"]), overrides=("tuner=smart", f"seed={seed}"),
                      status="FINISHED", target="alpha", tuner="smart", seed=seed, metric="throughput",
                      goal="maximize", records=recs)

    runs = [run(1, [("frozen", 110), ("frozen", 110), ("defaults", 100), ("frozen", 120), ("defaults", 100)]),
            run(2, [("frozen", 200), ("defaults", 200), ("frozen", 220), ("defaults", 200)])]
    report = build_report(runs, n_boot=500)
    rows = {r.seed: r for r in report.runs}
    assert rows[1].score == pytest.approx(340 / 3)  # interleaved default windows are not the run's score
    assert rows[1].verdict.gain == pytest.approx((340 / 3) / 100 - 1)
    assert (rows[1].verdict.n_stable, rows[1].verdict.n_defaults, rows[1].verdict.frozen) == (3, 2, "tuned")
    assert rows[2].verdict.gain == pytest.approx(210 / 200 - 1)
    cell = report.cell("alpha", "smart").verdict  # pooled blocks of both runs
    assert cell.gain == pytest.approx((340 + 420) / 5 / (600 / 4) - 1)
    assert cell.ci_low <= cell.gain <= cell.ci_high
    header, body = table(report)
    text = dict(zip(header, body[0]))
    assert text["vs interleaved defaults (95% CI)"].startswith(f"{cell.gain * 100:+.1f}% [")
    md = to_markdown(report, [])
    assert "## Verdict per run" in md
    assert f"| alpha | smart | 1 | tuned | 3 | 2 | {rows[1].verdict.gain * 100:+.1f}%" in md
