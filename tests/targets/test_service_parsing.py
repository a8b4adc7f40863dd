"""``service`` target without a live service: scrape parsing, window arithmetic, PromQL quantiles,
config errors and the guard-rail functions (fixture scrapes in fixtures/service/)."""

from __future__ import annotations

import math
import os
import subprocess
from pathlib import Path

import pytest
from hydra.utils import instantiate

from sematune.engine import guards
from sematune.engine.records import WindowRecord
from sematune.engine.scoring import Objective
from sematune.errors import ConfigError, TargetError
from sematune.targets.base import BenchmarkMetrics
from sematune.targets.service import ServiceTarget
from sematune.targets.service._attach import Attach
from sematune.targets.service._command import CommandMetric
from sematune.targets.service._postgres import mixture_quantile
from sematune.targets.service._prometheus import PromMetric, compute_metric, parse_scrape
from sematune.targets.service._redis import parse_info
from sematune.targets.service._window_math import histogram_quantile, increase

FIXTURES = Path(__file__).parent / "fixtures" / "service"
INF = math.inf


def scrapes(*names: str) -> list:
    return [parse_scrape((FIXTURES / name).read_text(), "text/plain; version=0.0.4") for name in names]


def value(rule: dict, names: tuple[str, ...] = ("scrape_1.prom", "scrape_2.prom"), seconds: float = 2.0):
    return compute_metric(PromMetric.model_validate(rule), scrapes(*names), seconds)


# -- counters -------------------------------------------------------------------------------------
def test_counter_rate_and_increase_select_series_by_labels() -> None:
    assert value({"metric": "http_requests_total", "labels": {"code": "200", "path": "/work"}}) == 200.0
    assert value({"metric": "http_requests", "labels": {"path": "/work", "code": "200"}, "stat": "increase"}) == 400
    assert value({"metric": "http_requests_total", "labels_regex": {"code": "2.."}, "stat": "increase"}) == 402


def test_a_series_missing_from_a_scrape_contributes_nothing() -> None:
    # code="500" is in scrape_1 only: one reading gives no increase (PromQL needs two samples too).
    assert value({"metric": "http_requests_total", "labels": {"path": "/work"}, "stat": "increase"}) == 400
    assert value({"metric": "http_requests_total", "labels": {"code": "500"}}) is None
    assert value({"metric": "no_such_metric_total"}) is None


def test_counter_reset_counts_from_zero() -> None:
    names = ("scrape_1.prom", "scrape_2.prom", "scrape_reset.prom")
    assert value({"metric": "http_requests_total", "labels": {"path": "/work"}, "stat": "increase"}, names) == 430
    assert increase([100.0, 20.0, 50.0]) == 50.0
    assert increase([5.0, None, float("nan"), 9.0]) == 4.0
    assert increase([5.0]) is None and increase([]) is None


# -- gauges -----------------------------------------------------------------------------------------
def test_gauge_aggregates_and_nan_is_missing() -> None:
    assert value({"metric": "inflight"}) == 6.0
    assert value({"metric": "inflight", "stat": "max"}) == 8.0
    assert value({"metric": "inflight", "stat": "last"}, ("scrape_1.prom", "scrape_2.prom", "scrape_reset.prom")) == 0
    assert value({"metric": "queue_depth"}) is None


# -- histograms -------------------------------------------------------------------------------------
def test_histogram_quantiles_over_the_window_bucket_increases() -> None:
    # bucket increases: 0.001:10 0.01:10 0.1:310 1:400 +Inf:400
    rule = {"metric": "http_request_duration_seconds", "labels": {"path": "/work"}}
    assert value({**rule, "stat": "p50"}) == pytest.approx(0.01 + 0.09 * 190 / 300)
    assert value({**rule, "stat": "p99", "scale": 1000}) == pytest.approx(1000 * (0.1 + 0.9 * 86 / 90))
    assert value({**rule, "stat": "mean"}) == pytest.approx(20.0 / 400)
    assert value({"metric": "http_request_duration_seconds_bucket", "stat": "p50"}) == value({**rule, "stat": "p50"})
    assert value({**rule, "stat": "rate"}) == pytest.approx(200.0)
    reset = ("scrape_1.prom", "scrape_2.prom", "scrape_reset.prom")
    assert value({**rule, "stat": "p99"}, reset, 3.0) == pytest.approx(0.1 + 0.9 * (0.99 * 430 - 310) / 120)


def test_histogram_quantile_matches_promql_edge_cases() -> None:
    assert histogram_quantile(0.9, {0.5: 3.0, INF: 4.0}) == 0.5  # rank in +Inf: highest finite bound
    assert histogram_quantile(0.5, {0.5: 3.0, 1.0: 4.0}) is None  # no +Inf bucket
    assert histogram_quantile(0.5, {0.5: 0.0, INF: 0.0}) is None  # no observations
    assert histogram_quantile(0.5, {INF: 4.0}) is None  # one bucket
    assert histogram_quantile(0.25, {1.0: 4.0, 2.0: 8.0, INF: 8.0}) == pytest.approx(0.5)  # first bucket starts at 0
    assert histogram_quantile(0.5, {-1.0: 4.0, 2.0: 8.0, INF: 8.0}) == -1.0  # non-positive lowest bound
    assert histogram_quantile(0.75, {1.0: 4.0, 2.0: 3.0, INF: 8.0}) == pytest.approx(2.0)  # made monotonic
    assert histogram_quantile(1.5, {1.0: 4.0, INF: 4.0}) is None


def test_openmetrics_text_is_parsed_with_its_own_parser() -> None:
    readings = [parse_scrape((FIXTURES / "scrape_openmetrics.txt").read_text(),
                             "application/openmetrics-text; version=1.0.0")] * 2
    assert compute_metric(PromMetric(metric="jobs", stat="increase"), readings, 1.0) == 0.0
    assert compute_metric(PromMetric(metric="wait_seconds", stat="p50"), readings, 1.0) is None  # nothing new
    first = dict(readings[0])
    later = {**first, ("jobs_total", frozenset({("queue", "a")})): 12.0}
    assert compute_metric(PromMetric(metric="jobs"), [first, later], 2.0) == 2.5


def test_bad_scrape_text_is_a_target_error() -> None:
    with pytest.raises(TargetError, match="not Prometheus"):
        parse_scrape('metric{label="unterminated} 1\n')


# -- other sources' arithmetic ---------------------------------------------------------------------
def test_command_metric_counters_and_gauges() -> None:
    counter = CommandMetric.model_validate({"json": "n", "type": "counter"})
    assert counter.window_value([10.0, 30.0, 5.0], 2.0) == pytest.approx(12.5)  # 20 + reset to 5
    assert CommandMetric.model_validate({"regex": r"load (\d+)", "stat": "max"}).window_value([1.0, 3.0], 1) == 3.0
    assert counter.extract('{"n": 7}') == 7.0


def test_redis_info_fields_and_mixture_quantile() -> None:
    info = parse_info("# Stats\r\ntotal_commands_processed:42\r\n"
                      "cmdstat_get:calls=3,usec=9,usec_per_call=3.00\r\n"
                      "latency_percentiles_usec_get:p50=2.003,p99=9.001,p99.9=9.001\r\nrole:master\r\n")
    assert info["total_commands_processed"] == 42 and info["cmdstat_get.usec"] == 9
    assert info["latency_percentiles_usec_get.p99.9"] == pytest.approx(9.001) and "role" not in info
    assert mixture_quantile(0.5, [(1.0, 10.0, 0.0)]) == pytest.approx(10.0)
    assert mixture_quantile(0.95, [(1.0, 0.0, 1.0)]) == pytest.approx(1.6449, abs=1e-3)
    assert mixture_quantile(0.95, [(9.0, 1.0, 0.0), (1.0, 100.0, 0.0)]) == pytest.approx(100.0)
    assert mixture_quantile(0.5, []) is None


# -- configuration ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, key", [
    ({"source": {"kind": "kafka"}}, "target.source.kind"),
    ({"source": {"kind": "prometheus", "url": "http://127.0.0.1:1/metrics"}}, "target.metrics"),
    ({"source": {"kind": "prometheus", "url": "ftp://x"}, "metrics": {"t": {"metric": "a"}}}, "target.source"),
    ({"source": {"kind": "prometheus", "url": "http://x/m"}, "metrics": {"t": {"metric": "a", "stat": "p"}}},
     "target.metrics.t"),
    ({"source": {"kind": "redis", "port": 0}}, "target.source"),
    ({"source": {"kind": "redis"}, "metrics": {"t": {"metric": "a"}}}, "target.metrics"),
    ({"source": {"kind": "redis"}, "attach": {"pid": 1}}, "target.attach"),
    ({"source": {"kind": "redis"}, "pin_to_cores": "0"}, "target.pin_to_cores"),
    ({"source": {"kind": "command", "argv": "curl x"}, "metrics": {"t": {"json": "a"}}}, "target.source"),
])
def test_bad_settings_name_their_key(kwargs: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        ServiceTarget(**kwargs)
    assert err.value.key == key


@pytest.mark.parametrize("name", ["service", "service_command", "service_postgres", "service_redis"])
def test_shipped_presets_instantiate(compose, name: str) -> None:
    target = instantiate(compose(f"target={name}").target, _convert_="all")
    assert isinstance(target, ServiceTarget) and target.attach.empty


def test_command_preset_reads_real_host_counters(tmp_path: Path, compose) -> None:
    target = instantiate(compose("target=service_command").target, _convert_="all")
    target.results_dir = tmp_path
    assert target.pre_execute()
    metrics = target.execute_window(0, 1.0)
    assert metrics.throughput > 0 and metrics.extra_metrics["service/load1"] >= 0
    target.cleanup()


# -- guard rails --------------------------------------------------------------------------------------
def record(window: int, phase: str, objective: float, status: str = "ok") -> WindowRecord:
    return WindowRecord(window=window, phase=phase, status=status, objective=objective, reward=objective)


def test_idle_note_needs_the_traffic_metric_at_its_minimum() -> None:
    rule = guards.MinTraffic(metric="service/requests", min=10)
    assert guards.idle_note(BenchmarkMetrics(extra_metrics={"service/requests": 10}), rule) is None
    assert guards.idle_note(BenchmarkMetrics(extra_metrics={"service/requests": 9.5}), rule).startswith(guards.IDLE)
    assert "missing" in guards.idle_note(BenchmarkMetrics(), rule)
    assert guards.idle_note(BenchmarkMetrics(), None) is None


def test_regression_note_compares_with_the_defaults_mean_in_the_goal_direction() -> None:
    base = [record(0, "baseline", 100.0), record(1, "baseline", 110.0, "idle"), record(2, "baseline", 120.0)]
    up, down = Objective(metric="throughput"), Objective(metric="latency_p95", goal="minimize")
    assert guards.regression_note([*base, record(3, "tuning", 90.0)], up, 0.2) is None
    assert "25%" in guards.regression_note([*base, record(3, "tuning", 82.5)], up, 0.2)
    assert guards.regression_note([*base, record(3, "tuning", 130.0)], down, 0.2) is None
    assert guards.regression_note([*base, record(3, "tuning", 140.0)], down, 0.2) is not None
    assert guards.regression_note([*base, record(3, "tuning", 1.0)], up, None) is None
    assert guards.regression_note([*base, record(3, "tuning", 1.0, "idle")], up, 0.2) is None


def test_aa_noise_of_the_default_windows() -> None:
    noise = guards.aa_noise([record(0, "baseline", 90.0), record(1, "baseline", 110.0),
                             record(2, "baseline", 500.0, "idle")])
    assert noise["n"] == 2 and noise["mean"] == 100.0
    assert noise["cv"] == pytest.approx(math.sqrt(200) / 100)
    assert guards.aa_noise([])["cv"] is None


# -- attaching to the service's processes -------------------------------------------------------------
def own_cgroup() -> str:
    """A cgroup (v2 path, or v1 ``controller/path``) that holds this test process."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for sub in ([""] if not controllers else controllers.removeprefix("name=").split(",")):
            spec = f"{sub}/{path.lstrip('/')}".strip("/") if sub else path.lstrip("/")
            procs = Path("/sys/fs/cgroup") / spec / "cgroup.procs"
            if procs.is_file() and str(os.getpid()) in procs.read_text().split():
                return spec
    raise AssertionError("no cgroup of this process found under /sys/fs/cgroup")


def test_attach_follows_pids_pidfiles_and_cgroups(tmp_path: Path) -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        pidfile = tmp_path / "app.pid"
        pidfile.write_text(f"{os.getpid()}\n")
        resolved = Attach(pidfile=str(pidfile)).resolve()
        assert resolved[0] == os.getpid() and child.pid in resolved  # descendants follow
        assert os.getpid() in Attach(cgroup=own_cgroup()).resolve()
        assert Attach(pids=[child.pid]).resolve() == [child.pid]
    finally:
        child.kill()
        child.wait()
    with pytest.raises(TargetError, match="attach.pids"):
        Attach(pids=[child.pid]).resolve()
    pidfile.write_text(f"{child.pid}\n")
    with pytest.raises(TargetError, match="is not running"):
        Attach(pidfile=str(pidfile)).resolve()
    with pytest.raises(TargetError, match="attach.cgroup"):
        Attach(cgroup="no-such-cgroup-here").resolve()
    with pytest.raises(TargetError, match="attach.unit no-such-unit.service"):
        Attach(unit="no-such-unit.service").resolve()
