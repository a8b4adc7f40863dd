"""sysbench targets: ``cpu``, ``memory``, ``threads`` and ``fileio`` (Debian package ``sysbench``).

Each window is one ``sysbench <test> run --time=<window>``; rates come from sysbench's own
totals (its ~20 ms start-up is outside them), latencies from its ``Latency (ms):`` block
(``--percentile`` picks the printed percentile: 95 → ``latency_p95``, any other → the extra
metric ``latency_p<N>``). ``fileio`` creates its files once in ``pre_execute`` under the
target's results dir and removes them in ``cleanup``.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
from pathlib import Path
from typing import Any, ClassVar, Mapping, Optional, Sequence

from sematune.errors import TargetError
from sematune.targets._process import Completed, require_binary, run_command
from sematune.targets.base import BenchmarkMetrics, Target
from sematune.validate import require

OUTPUT = "sysbench.out"
ERRORS = "sysbench.err"

_NUMBER = r"([0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)"
_LINE_PATTERNS: dict[str, re.Pattern[str]] = {
    "events_per_s": re.compile(rf"events per second:\s*{_NUMBER}"),
    "total_time_s": re.compile(rf"total time:\s*{_NUMBER}s"),
    "total_events": re.compile(rf"total number of events:\s*{_NUMBER}"),
    "reads_per_s": re.compile(rf"reads/s:\s*{_NUMBER}"),
    "writes_per_s": re.compile(rf"writes/s:\s*{_NUMBER}"),
    "fsyncs_per_s": re.compile(rf"fsyncs/s:\s*{_NUMBER}"),
    "read_mib_per_s": re.compile(rf"read, MiB/s:\s*{_NUMBER}"),
    "written_mib_per_s": re.compile(rf"written, MiB/s:\s*{_NUMBER}"),
    "mib_per_s": re.compile(rf"MiB transferred \({_NUMBER} MiB/sec\)"),
}
_OPERATIONS = re.compile(rf"Total operations:\s*{_NUMBER}\s*\({_NUMBER} per second\)")
_TRANSACTIONS = re.compile(rf"transactions:\s*{_NUMBER}\s*\({_NUMBER} per sec\.\)")
_QUERIES = re.compile(rf"queries:\s*{_NUMBER}\s*\({_NUMBER} per sec\.\)")
_ERRORS = re.compile(rf"ignored errors:\s*{_NUMBER}\s*\({_NUMBER} per sec\.\)")
_LATENCY_BLOCK = re.compile(r"^Latency \(ms\):[ \t]*$(?P<body>(?:\n[ \t]+\S.*$)+)", re.MULTILINE)
_LATENCY_LINE = re.compile(rf"^\s*(min|avg|max|sum|([0-9]+(?:\.[0-9]+)?)th percentile):\s*{_NUMBER}\s*$")
#: ``[ 1s ] thds: 2 eps: 6172.77 lat (ms,99%): 0.43`` and the fileio/memory/oltp variants.
_INTERVAL = re.compile(r"^\[\s*([0-9.]+)s\s*\]\s*(?P<rest>.*)$", re.MULTILINE)
_INTERVAL_RATE = re.compile(rf"\b(?:eps|tps):\s*{_NUMBER}|^{_NUMBER} MiB/sec")
_INTERVAL_IO = re.compile(rf"reads:\s*{_NUMBER} MiB/s\s+writes:\s*{_NUMBER} MiB/s")


def _num(match: Optional[re.Match[str]], group: int = 1) -> Optional[float]:
    return float(match.group(group)) if match else None


def parse_sysbench(text: str) -> dict[str, float]:
    """Every number a sysbench report holds, by a stable name; absent lines are absent keys.

    Keys: ``events_per_s``, ``total_time_s``, ``total_events``, ``operations``,
    ``operations_per_s``, ``mib_per_s``, ``reads_per_s``/``writes_per_s``/``fsyncs_per_s``,
    ``read_mib_per_s``/``written_mib_per_s``, ``transactions(_per_s)``, ``queries(_per_s)``,
    ``errors(_per_s)``, ``latency_min/avg/max/sum`` (ms), ``latency_p<N>`` (ms),
    ``interval_rate_mean``/``interval_rate_cv``/``interval_rate_min``/``intervals`` (from
    ``--report-interval`` lines).
    """
    out: dict[str, float] = {}
    for key, pattern in _LINE_PATTERNS.items():
        value = _num(pattern.search(text))
        if value is not None:
            out[key] = value
    for key, pattern in (("operations", _OPERATIONS), ("transactions", _TRANSACTIONS),
                         ("queries", _QUERIES), ("errors", _ERRORS)):
        match = pattern.search(text)
        if match:
            out[key], out[f"{key}_per_s"] = float(match.group(1)), float(match.group(2))
    block = _LATENCY_BLOCK.search(text)
    if block:
        for line in block.group("body").splitlines():
            match = _LATENCY_LINE.match(line)
            if not match:
                continue
            name, pct, value = match.group(1), match.group(2), float(match.group(3))
            key = f"latency_p{float(pct):g}" if pct else f"latency_{name}"
            out[key] = value
    rates = []
    for match in _INTERVAL.finditer(text):
        rest = match.group("rest")
        rate, io = _INTERVAL_RATE.search(rest), _INTERVAL_IO.search(rest)
        if rate:
            rates.append(float(rate.group(1) or rate.group(2)))
        elif io:  # fileio: MiB/s read + written
            rates.append(float(io.group(1)) + float(io.group(2)))
    if rates:
        out["intervals"] = float(len(rates))
        out["interval_rate_mean"] = statistics.fmean(rates)
        out["interval_rate_min"] = min(rates)
        if len(rates) >= 2 and out["interval_rate_mean"] > 0:
            out["interval_rate_cv"] = statistics.stdev(rates) / out["interval_rate_mean"]
    return out


def _precise_latency_avg(values: Mapping[str, float]) -> Optional[float]:
    """Mean latency in ms: ``sum/events`` (sysbench prints ``avg`` with two decimals only)."""
    total, events = values.get("latency_sum"), values.get("total_events")
    if total is not None and events:
        return total / events
    return values.get("latency_avg")


class SysbenchTarget(Target):
    """Common lifecycle and parsing; subclasses name the test and add its options."""

    test: ClassVar[str] = ""
    #: The parsed key that is this test's natural rate (→ ``throughput``).
    rate_key: ClassVar[str] = "events_per_s"
    #: Parsed keys copied into ``extra_metrics`` (under the same name).
    extra_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *,
        threads: int = 1,
        percentile: float = 95,
        report_interval: int = 1,
        extra_args: Sequence[str] = (),
        timeout_grace_s: float = 30.0,
        results_dir: str | os.PathLike[str] | None = None,
        pin_to_cores: str | Sequence[int] | None = None,
        objective: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(results_dir=results_dir, pin_to_cores=pin_to_cores, objective=objective)
        require("target.threads", int(threads) >= 0,
                f"must be >= 0 (0: one per usable CPU), got {threads}")
        require("target.percentile", 0 < float(percentile) < 100, f"must be in (0, 100), got {percentile}")
        require("target.report_interval", int(report_interval) >= 0,
                f"must be >= 0 seconds, got {report_interval}")
        require("target.extra_args",
                not isinstance(extra_args, str) and all(isinstance(a, (str, int, float)) for a in extra_args),
                "must be a list of arguments like ['--rand-type=uniform']")
        self.threads = int(threads) or len(self.pin_to_cores or os.sched_getaffinity(0))
        self.percentile = float(percentile)
        self.report_interval = int(report_interval)
        self.extra_args = [str(a) for a in extra_args]
        self.timeout_grace_s = float(timeout_grace_s)
        self._binary: Optional[str] = None

    # -- command lines ------------------------------------------------------------------------
    def test_options(self) -> list[str]:
        """``--<test>-…`` options of this test."""
        return []

    @staticmethod
    def window_seconds(duration: float) -> int:
        """sysbench's ``--time`` takes whole seconds."""
        return max(1, int(round(duration)))

    def command(self, duration: float, action: str = "run") -> list[str]:
        """The full argv of one sysbench ``action`` (``taskset`` first when pinned)."""
        argv = [self._binary or "sysbench", self.test, f"--threads={self.threads}", *self.test_options()]
        if action == "run":
            seconds = self.window_seconds(duration)
            argv += [f"--time={seconds}", "--events=0", f"--percentile={self.percentile:g}"]
            if self.report_interval and seconds >= 2 * self.report_interval:
                argv.append(f"--report-interval={self.report_interval}")
        argv += [*self.extra_args, action]
        return self._wrap_with_taskset(argv)

    # -- the contract -------------------------------------------------------------------------
    def pre_execute(self) -> bool:
        self._binary = require_binary("sysbench", "sysbench")
        self._wrap_with_taskset([])  # fails early when pinning needs a missing taskset
        return True

    def _run(self, argv: list[str], out_dir: Path, timeout_s: float, cwd: Optional[Path] = None) -> Completed:
        done = run_command(argv, timeout_s=timeout_s, cwd=cwd or out_dir,
                           stdout=out_dir / OUTPUT, stderr=out_dir / ERRORS)
        done.save(out_dir / "command.json")
        if not done.ok:
            raise TargetError(f"sysbench {self.test} failed: {done.describe_failure()}")
        return done

    def execute_window(self, window_number: int, duration: float) -> BenchmarkMetrics:
        out_dir = self._window_output_dir(window_number)
        timeout = self.window_seconds(duration) + max(self.timeout_grace_s, duration)
        self._run(self.command(duration), out_dir, timeout, cwd=self._workdir())
        return self.parse_results(out_dir)

    def _workdir(self) -> Path:
        return self.results_dir

    def parse_results(self, output_dir: str | os.PathLike[str]) -> BenchmarkMetrics:
        path = Path(output_dir) / OUTPUT
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise TargetError(f"no sysbench output at {path}: {exc.strerror}") from None
        return self.metrics_from(parse_sysbench(text), source=str(path))

    def rate(self, values: Mapping[str, float]) -> Optional[float]:
        """This test's natural rate (``throughput``)."""
        return values.get(self.rate_key)

    def metrics_from(self, values: Mapping[str, float], source: str = "output") -> BenchmarkMetrics:
        """Map parsed values to metrics; a report without its rate line is an error."""
        rate = self.rate(values)
        if rate is None:
            raise TargetError(
                f"sysbench {self.test}: no rate in {source} (did sysbench finish? see {ERRORS} next to it)"
            )
        pct_key = f"latency_p{self.percentile:g}"
        extra: dict[str, Any] = {k: values[k] for k in self.extra_keys if k in values}
        if pct_key != "latency_p95" and pct_key in values:
            extra[pct_key] = values[pct_key]
        for key in ("latency_max", "interval_rate_cv", "interval_rate_min"):
            if key in values:
                extra[key] = values[key]
        return BenchmarkMetrics(
            throughput=rate,
            goodput=rate,  # every counted sysbench event succeeded
            latency_avg=_precise_latency_avg(values),
            latency_p95=values.get("latency_p95"),
            extra_metrics=extra,
        )

    def cleanup(self) -> None:
        """Nothing runs between windows (each run is reaped or killed in the window)."""

    def describe(self) -> dict[str, Any]:
        return {"benchmark": f"sysbench {self.test}", "threads": self.threads, "percentile": self.percentile}


class SysbenchCpu(SysbenchTarget):
    """``sysbench cpu``: prime search; ``throughput`` = events/s."""

    test = "cpu"

    def __init__(self, *, cpu_max_prime: int = 10000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        require("target.cpu_max_prime", int(cpu_max_prime) >= 3, f"must be >= 3, got {cpu_max_prime}")
        self.cpu_max_prime = int(cpu_max_prime)

    def test_options(self) -> list[str]:
        return [f"--cpu-max-prime={self.cpu_max_prime}"]


class SysbenchMemory(SysbenchTarget):
    """``sysbench memory``: ``throughput`` = operations/s; ``mib_per_s`` in extras."""

    test = "memory"
    rate_key = "operations_per_s"
    extra_keys = ("mib_per_s",)

    def __init__(
        self,
        *,
        block_size: str = "1K",
        total_size: str = "0",
        operation: str = "write",
        access_mode: str = "seq",
        scope: str = "global",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for key, value, allowed in (("operation", operation, ("read", "write", "none")),
                                    ("access_mode", access_mode, ("seq", "rnd")),
                                    ("scope", scope, ("global", "local"))):
            require(f"target.{key}", value in allowed, f"must be one of {allowed}, got {value!r}")
        for key, value in (("block_size", block_size), ("total_size", total_size)):
            require(f"target.{key}", re.fullmatch(r"[0-9]+[KMGTkmgt]?", str(value)),
                    f"must be a size like 1K, 1M or 0, got {value!r}")
        self.block_size, self.total_size = str(block_size), str(total_size)
        self.operation, self.access_mode, self.scope = operation, access_mode, scope

    def test_options(self) -> list[str]:
        # total_size 0 = unlimited: the window length alone ends the run.
        return [f"--memory-block-size={self.block_size}", f"--memory-total-size={self.total_size}",
                f"--memory-oper={self.operation}", f"--memory-access-mode={self.access_mode}",
                f"--memory-scope={self.scope}"]


class SysbenchThreads(SysbenchTarget):
    """``sysbench threads``: lock/yield contention; ``throughput`` = events / total time."""

    test = "threads"
    extra_keys = ("total_events",)

    def __init__(self, *, thread_yields: int = 1000, thread_locks: int = 8, **kwargs: Any) -> None:
        kwargs.setdefault("threads", 4)
        super().__init__(**kwargs)
        require("target.thread_yields", not (int(thread_yields) < 1 or int(thread_locks) < 1),
                "thread_yields and thread_locks must be >= 1")
        self.thread_yields, self.thread_locks = int(thread_yields), int(thread_locks)

    def test_options(self) -> list[str]:
        return [f"--thread-yields={self.thread_yields}", f"--thread-locks={self.thread_locks}"]

    def rate(self, values: Mapping[str, float]) -> Optional[float]:
        events, seconds = values.get("total_events"), values.get("total_time_s")
        if events is None or not seconds:
            return None
        return events / seconds


class SysbenchFileio(SysbenchTarget):
    """``sysbench fileio``: ``throughput`` = reads/s + writes/s; per-kind rates and MiB/s in extras.

    Test files live in ``<results_dir>/fileio`` (created in ``pre_execute``, removed in
    ``cleanup``); with ``direct: true`` they are opened ``O_DIRECT`` so the page cache is bypassed.
    """

    test = "fileio"
    extra_keys = ("reads_per_s", "writes_per_s", "fsyncs_per_s", "read_mib_per_s", "written_mib_per_s")
    _MODES = ("seqwr", "seqrewr", "seqrd", "rndrd", "rndwr", "rndrw")

    def __init__(
        self,
        *,
        file_total_size: str = "256M",
        file_num: int = 4,
        test_mode: str = "rndrw",
        block_size: int = 16384,
        io_mode: str = "sync",
        fsync_freq: int = 100,
        rw_ratio: float = 1.5,
        direct: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        require("target.test_mode", test_mode in self._MODES,
                f"must be one of {self._MODES}, got {test_mode!r}")
        require("target.io_mode", io_mode in ("sync", "async", "mmap"),
                f"must be sync, async or mmap, got {io_mode!r}")
        require("target.file_total_size", 
                re.fullmatch(r"[0-9]+[KMGTkmgt]?", str(file_total_size)) and str(file_total_size) != "0",
                f"must be a size like 256M or 1G, got {file_total_size!r}")
        require("target.file_num", 
                not (int(file_num) < 1 or int(block_size) < 512 or int(fsync_freq) < 0 or float(rw_ratio) <= 0),
                "file_num >= 1, block_size >= 512, fsync_freq >= 0, rw_ratio > 0")
        self.file_total_size, self.file_num, self.test_mode = str(file_total_size), int(file_num), test_mode
        self.block_size, self.io_mode, self.fsync_freq = int(block_size), io_mode, int(fsync_freq)
        self.rw_ratio, self.direct = float(rw_ratio), bool(direct)
        self._prepared = False

    @property
    def data_dir(self) -> Path:
        """Where the test files live (inside the results dir, never elsewhere)."""
        return self.results_dir / "fileio"

    def _workdir(self) -> Path:
        return self.data_dir

    def test_options(self) -> list[str]:
        opts = [f"--file-total-size={self.file_total_size}", f"--file-num={self.file_num}",
                f"--file-test-mode={self.test_mode}", f"--file-block-size={self.block_size}",
                f"--file-io-mode={self.io_mode}", f"--file-fsync-freq={self.fsync_freq}",
                f"--file-rw-ratio={self.rw_ratio:g}"]
        if self.direct:
            opts.append("--file-extra-flags=direct")
        return opts

    def pre_execute(self) -> bool:
        super().pre_execute()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._prepared = True  # from here on cleanup() removes the files, even if prepare fails half-way
        self._run(self.command(0, "prepare"), self.data_dir, timeout_s=600, cwd=self.data_dir)
        return True

    def rate(self, values: Mapping[str, float]) -> Optional[float]:
        reads, writes = values.get("reads_per_s"), values.get("writes_per_s")
        if reads is None and writes is None:
            return None
        return (reads or 0.0) + (writes or 0.0)

    def metrics_from(self, values: Mapping[str, float], source: str = "output") -> BenchmarkMetrics:
        metrics = super().metrics_from(values, source)
        read, written = values.get("read_mib_per_s"), values.get("written_mib_per_s")
        if read is not None or written is not None:
            metrics.extra_metrics["mib_per_s"] = (read or 0.0) + (written or 0.0)
        return metrics

    def cleanup(self) -> None:
        if not self._prepared or self._results_dir is None:
            return
        self._prepared = False
        data = self.data_dir
        if self._binary and data.is_dir():
            try:
                run_command(self.command(0, "cleanup"), timeout_s=120, cwd=data,
                            stdout=data / "cleanup.out", stderr=data / "cleanup.err")
            except TargetError:
                pass
        shutil.rmtree(data, ignore_errors=True)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "file_total_size": self.file_total_size, "test_mode": self.test_mode,
                "direct": self.direct}


__all__ = [
    "SysbenchCpu", "SysbenchFileio", "SysbenchMemory", "SysbenchTarget", "SysbenchThreads", "parse_sysbench",
]
