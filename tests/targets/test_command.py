"""command target: declared parsers (regex/JSON, scale, reduce), placeholders, failures, timeouts,
process-group kill, and real runs of the shipped examples."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import psutil
import pytest
from hydra.utils import instantiate

from sematune.errors import ConfigError, TargetError
from sematune.targets.command import CommandTarget, MetricRule, substitute
from tests.conftest import process_gone
from tests.targets.test_sysbench import run_two_windows

FIXTURES = Path(__file__).parent / "fixtures"
PY = sys.executable


def target(tmp_path: Path, argv: list[str] | None = None, **kwargs) -> CommandTarget:
    t = CommandTarget(argv=argv or [PY, "-c", "print('rate: 12.5')"],
                      metrics=kwargs.pop("metrics", {"throughput": {"regex": r"rate: ([0-9.]+)"}}), **kwargs)
    t.results_dir = tmp_path / "results"
    return t


def window_with(tmp_path: Path, **files: str) -> Path:
    out = tmp_path / "window"
    out.mkdir(exist_ok=True)
    for name, text in files.items():
        (out / name.replace("__", ".")).write_text(text)
    return out


# -- rules -----------------------------------------------------------------------------------------
def test_regex_rules() -> None:
    text = "lat 1.5 us\nlat 2.5 us\nrate=3e3 ops\n"
    assert MetricRule(regex=r"lat ([0-9.]+) us").extract(text) == 2.5  # last match by default
    assert MetricRule(regex=r"lat ([0-9.]+) us", reduce="mean", scale=1e-3).extract(text) == pytest.approx(2e-3)
    assert MetricRule(regex=r"lat ([0-9.]+) us", reduce="first").extract(text) == 1.5
    assert MetricRule(regex=r"(rate)=(?P<value>[0-9e.]+)").extract(text) == 3000.0  # named group wins
    assert MetricRule(regex=r"missing ([0-9]+)").extract(text) is None
    assert MetricRule(regex=r"lat (\w+)").extract("lat fast") is None  # not a number: missing


def test_json_rules() -> None:
    doc = json.dumps({"a": {"b": [1, {"c": "7.5"}]}, "flag": True})
    assert MetricRule(json="a.b.1.c").extract(doc) == 7.5
    assert MetricRule(json="a.b.-2").extract(doc) == 1.0
    assert MetricRule(json="a.x").extract(doc) is None
    assert MetricRule(json="flag").extract(doc) is None  # booleans are not metrics
    lines = "starting\n{\"ops\": 10}\nnoise\n{\"ops\": 30}\n"
    assert MetricRule(json="ops").extract(lines) == 30.0  # JSON lines: last document
    assert MetricRule(json="ops", reduce="sum").extract(lines) == 40.0


@pytest.mark.parametrize(("spec", "message"), [
    ({}, "exactly one of regex or json"),
    ({"regex": "a", "json": "b"}, "exactly one of regex or json"),
    ({"regex": "no group"}, "needs a group"),
    ({"regex": "(unclosed"}, "bad regex"),
    ({"regex": "(x)", "source": "socket"}, "source must be"),
    ({"regex": "(x)", "reduce": "median"}, "reduce"),
    ({"regex": "(x)", "colour": "red"}, "colour"),
])
def test_bad_rules_name_the_metric(spec: dict, message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        target(tmp_path, metrics={"throughput": spec})
    assert err.value.key.startswith("target.metrics.throughput")


def test_bad_target_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="target.argv"):
        CommandTarget(argv="sysbench cpu run", metrics={"throughput": {"regex": "(x)"}})
    with pytest.raises(ConfigError, match="target.metrics"):
        CommandTarget(argv=["x"], metrics={})
    with pytest.raises(ConfigError, match="target.prepare"):
        target(tmp_path, prepare=[["touch", "{output_dir}/x"]])
    with pytest.raises(ConfigError, match="target.cleanup"):
        target(tmp_path, cleanup="rm -rf /")
    with pytest.raises(ConfigError, match="target.timeout_s"):
        target(tmp_path, timeout_s=0)


def test_default_objective_follows_the_declared_metrics(tmp_path: Path) -> None:
    assert target(tmp_path).default_objective == ("throughput", "maximize")
    only_latency = target(tmp_path, metrics={"latency_p99": {"regex": "p99 ([0-9.]+)"}})
    assert only_latency.default_objective == ("latency_p99", "minimize")
    explicit = target(tmp_path, objective={"metric": "throughput", "goal": "minimize"})
    assert explicit.default_objective == ("throughput", "minimize")


# -- placeholders and command lines ----------------------------------------------------------------
def test_placeholders(tmp_path: Path) -> None:
    assert substitute("{python} -c '{\"a\": {b}}' {duration}", {"python": "py", "duration": "2"}) == \
        "py -c '{\"a\": {b}}' 2"  # unknown braces stay
    t = target(tmp_path, argv=["{python}", "{duration}", "{duration_int}", "{window}", "{output_dir}/x",
                               "{results_dir}"])
    values = t.placeholders(3, 2.5, tmp_path / "w")
    assert t.command(t.argv, values) == [PY, "2.5", "3", "3", f"{tmp_path / 'w'}/x", str(tmp_path / "results")]


def test_program_is_resolved_on_path_with_the_package_hint(tmp_path: Path) -> None:
    t = target(tmp_path, argv=["echo", "hi"])
    assert t.command(t.argv, {})[0] == shutil.which("echo")
    missing = target(tmp_path, argv=["no-such-benchmark-xyz"], package="xyz-tools")
    with pytest.raises(TargetError, match="apt-get install xyz-tools"):
        missing.pre_execute()


def test_pin_to_cores_prefixes_taskset(tmp_path: Path) -> None:
    t = target(tmp_path, pin_to_cores=[0])
    argv = t.command(t.argv, t.placeholders(0, 1.0, tmp_path))
    assert Path(argv[0]).name == "taskset" and argv[1:3] == ["-c", "0"] and argv[3] == PY


def test_pinned_command_really_runs_on_the_pinned_core(tmp_path: Path) -> None:
    t = target(tmp_path, argv=["{python}", "-c", "import os; print('cpus:', len(os.sched_getaffinity(0)),"
                                                 " 'first:', min(os.sched_getaffinity(0)))"],
               metrics={"throughput": {"regex": r"cpus: ([0-9]+)"}, "first_cpu": {"regex": r"first: ([0-9]+)"}},
               pin_to_cores="0")
    m = t.execute_window(0, 1)
    assert m.throughput == 1.0 and m.extra_metrics["first_cpu"] == 0.0


# -- parsing window outputs ----------------------------------------------------------------------------
def test_parse_fixture_file_source(tmp_path: Path) -> None:
    t = CommandTarget(argv=["stress-ng"], metrics={
        "throughput": {"regex": r"bogo-ops-per-second-real-time: ([0-9.]+)", "source": "file:stress-ng.yaml"},
        "latency_avg": {"regex": r"nanosecs-per-context-switch[a-z-]*: ([0-9.]+)",
                        "source": "file:stress-ng.yaml", "scale": 1e-6},
        "latency_p95": {"regex": r"p95: ([0-9.]+)", "source": "file:stress-ng.yaml"},
        "cpu_usage_pct": {"regex": r"cpu-usage-per-instance: ([0-9.]+)", "source": "file:stress-ng.yaml"},
    })
    out = tmp_path / "w"
    out.mkdir()
    shutil.copy(FIXTURES / "command_stress_ng.yaml", out / "stress-ng.yaml")
    m = t.parse_results(out)
    assert m.throughput == pytest.approx(124806.735371)
    assert m.latency_avg == pytest.approx(8007.122468e-6)
    assert m.latency_p95 is None  # declared but absent: missing, not 0.0
    assert m.extra_metrics == {"cpu_usage_pct": pytest.approx(89.608497)}


def test_partial_and_missing_outputs(tmp_path: Path) -> None:
    t = target(tmp_path, metrics={"throughput": {"regex": r"rate: ([0-9.]+)"},
                                  "latency_p99": {"regex": r"p99: ([0-9.]+)", "source": "stderr"}})
    m = t.parse_results(window_with(tmp_path, stdout__txt="rate: 5\n"))  # stderr file absent
    assert m.throughput == 5.0 and "latency_p99" not in m.extra_metrics
    with pytest.raises(TargetError, match="no declared metric"):
        t.parse_results(window_with(tmp_path, stdout__txt="crashed\n", stderr__txt="boom\n"))
    required = target(tmp_path, metrics={"throughput": {"regex": r"rate: ([0-9.]+)", "required": True},
                                         "latency_avg": {"regex": r"avg ([0-9.]+)"}})
    with pytest.raises(TargetError, match="required metric 'throughput'"):
        required.parse_results(window_with(tmp_path, stdout__txt="avg 3\n"))


# -- real runs (short processes, not workloads) --------------------------------------------------------
def test_window_runs_the_command_with_env_prepare_and_cleanup(tmp_path: Path) -> None:
    script = ("import os, sys; open(os.path.join(sys.argv[2], 'r.json'), 'w').write("
              "'{\"v\": ' + os.environ['FACTOR'] + '}'); print('rate:', float(sys.argv[1]) * 2)")
    t = target(tmp_path, argv=["{python}", "-c", script, "{duration}", "{output_dir}"], env={"FACTOR": "4"},
               metrics={"throughput": {"regex": r"rate: ([0-9.]+)"},
                        "goodput": {"json": "v", "source": "file:r.json"}},
               prepare=[["{python}", "-c", "open('prepared', 'w').close()"]],
               cleanup=[["{python}", "-c", "import os; os.remove('prepared')"]])
    assert t.pre_execute() and (t.results_dir / "prepared").exists()
    m = t.execute_window(7, 1.5)
    assert m.throughput == 3.0 and m.goodput == 4.0
    saved = json.loads((t.results_dir / "windows" / "0007" / "command.json").read_text())
    assert saved["returncode"] == 0 and saved["argv"][0] == PY
    t.cleanup()
    assert not (t.results_dir / "prepared").exists()


def test_failing_command_is_a_target_error_with_its_stderr(tmp_path: Path) -> None:
    t = target(tmp_path, argv=[PY, "-c", "import sys; sys.stderr.write('disk on fire'); sys.exit(3)"])
    t.pre_execute()
    with pytest.raises(TargetError, match="exited with code 3: disk on fire"):
        t.execute_window(0, 1)
    ok = target(tmp_path, argv=[PY, "-c", "print('rate: 1'); raise SystemExit(3)"], ok_returncodes=[0, 3])
    assert ok.execute_window(1, 1).throughput == 1.0


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    script = ("import subprocess, sys, time;"
              " p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
              " print(p.pid, flush=True); time.sleep(60)")
    t = target(tmp_path, argv=[PY, "-c", script], timeout_s=1.5)
    with pytest.raises(TargetError, match="timed out"):  # not after the script's 60 s
        t.execute_window(0, 1)
    grandchild = int((t.results_dir / "windows" / "0000" / "stdout.txt").read_text().split()[0])

    deadline = time.monotonic() + 10  # poll: SIGKILL of the group is delivered asynchronously
    while not process_gone(grandchild) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process_gone(grandchild)
    assert t.processes() == []


@pytest.mark.parametrize("name", ["command", "command_stress_ng"])
def test_shipped_configs_instantiate(compose, name: str) -> None:
    t = instantiate(compose(f"target={name}").target, _convert_="all")
    assert isinstance(t, CommandTarget) and "throughput" in t.rules


@pytest.mark.benchmark_smoke
def test_two_real_windows_of_the_python_example(cli, sandbox: Path) -> None:
    for record in run_two_windows(cli, sandbox, "command"):
        m = record.metrics
        assert m.throughput > 100 and 0 < m.latency_avg < 100 and m.latency_p95 > 0
        assert m.extra_metrics["latency_p99"] >= m.latency_p95
        assert m.system["own_cpu_s"] > 0 and m.system["target_processes"] >= 1


@pytest.mark.benchmark_smoke
@pytest.mark.requires(binary="stress-ng", reason="apt-get install stress-ng")
def test_two_real_windows_of_stress_ng(cli, sandbox: Path) -> None:
    for record in run_two_windows(cli, sandbox, "command_stress_ng"):
        m = record.metrics
        assert m.throughput > 0 and m.latency_avg > 0 and "cpu_usage_pct" in m.extra_metrics
