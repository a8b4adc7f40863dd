"""``command`` target: any benchmark program, declared in YAML — an argv (never a shell) and a parser.

Each window runs ``argv`` once; ``metrics`` maps a metric name (``throughput``, ``goodput``,
``latency_avg``, ``latency_p95`` or any extra name such as ``latency_p99``) to where its number
is: a ``regex`` (named group ``value`` or group 1) or a ``json`` path (``a.b.0.c``) applied to
``stdout``, ``stderr`` or ``file:<path>`` (relative to the window's output dir), times an
optional ``scale`` (e.g. 1.0e-6 for ns → ms). Placeholders in the argv, ``cwd``, ``env`` and
file sources: ``{duration}`` (window seconds), ``{duration_int}`` (rounded up),
``{window}``, ``{output_dir}``, ``{results_dir}``, ``{python}`` (this interpreter); other
braces are left alone. ``prepare``/``cleanup`` are argv lists run once before the first and
after the last window (placeholders ``{results_dir}``, ``{python}``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Optional, Sequence

from pydantic import BaseModel, ConfigDict, model_validator

from sematune.errors import ConfigError, TargetError
from sematune.targets._process import ChildProcess, Completed, run_command
from sematune.targets.base import CORE_METRICS, BenchmarkMetrics, Target, default_goal
from sematune.validate import parsed, require

log = logging.getLogger(__name__)

STDOUT, STDERR = "stdout.txt", "stderr.txt"
WINDOW_PLACEHOLDERS = ("duration", "duration_int", "window", "output_dir")
RUN_PLACEHOLDERS = ("results_dir", "python")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(WINDOW_PLACEHOLDERS + RUN_PLACEHOLDERS) + r")\}")
_REDUCERS: dict[str, Callable[[list[float]], float]] = {
    "last": lambda v: v[-1], "first": lambda v: v[0], "sum": sum, "mean": statistics.fmean, "max": max, "min": min,
}


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace the known ``{name}`` placeholders present in ``values``; leave other braces alone."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


class MetricRule(BaseModel):
    """Where one metric's number is in a window's output."""

    model_config = ConfigDict(extra="forbid")

    regex: Optional[str] = None
    json_path: Optional[str] = None
    source: str = "stdout"
    scale: float = 1.0
    reduce: Literal["last", "first", "sum", "mean", "max", "min"] = "last"
    required: bool = False

    @model_validator(mode="before")
    @classmethod
    def _json_alias(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "json" in data:  # `json:` in YAML (a BaseModel attribute name)
            data = {**data, "json_path": data["json"]}
            data.pop("json")
        return data

    @model_validator(mode="after")
    def _check(self) -> "MetricRule":
        if (self.regex is None) == (self.json_path is None):
            raise ValueError("give exactly one of regex or json")
        if self.regex is not None:
            try:
                pattern = re.compile(self.regex, re.MULTILINE)
            except re.error as exc:
                raise ValueError(f"bad regex {self.regex!r}: {exc}") from None
            if pattern.groups < 1:
                raise ValueError(f"regex {self.regex!r} needs a group: (?P<value>...) or (...)")
        if self.source not in ("stdout", "stderr") and not (self.source.startswith("file:") and self.source[5:]):
            raise ValueError(f"source must be stdout, stderr or file:<path>, got {self.source!r}")
        if not math.isfinite(self.scale):
            raise ValueError("scale must be a finite number")
        return self

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(self.regex or "", re.MULTILINE)

    def extract(self, text: str) -> Optional[float]:
        """The scaled value in ``text``, or None when it is absent or not a number."""
        values = self._regex_values(text) if self.regex is not None else self._json_values(text)
        if not values:
            return None
        return _REDUCERS[self.reduce](values) * self.scale

    def _regex_values(self, text: str) -> list[float]:
        pattern = self.pattern
        group: int | str = "value" if "value" in pattern.groupindex else 1
        return [v for v in (_number(m.group(group)) for m in pattern.finditer(text)) if v is not None]

    def _json_values(self, text: str) -> list[float]:
        values = []
        for doc in _json_documents(text):
            value = _json_get(doc, self.json_path or "")
            number = _number(value)
            if number is not None:
                values.append(number)
        return values


def _number(value: Any) -> Optional[float]:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _json_documents(text: str) -> list[Any]:
    """The whole text as one JSON document, else every line that is one (JSON lines)."""
    try:
        return [json.loads(text)]
    except ValueError:
        pass
    docs = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(("{", "[")):
            try:
                docs.append(json.loads(line))
            except ValueError:
                continue
    return docs


def _json_get(doc: Any, path: str) -> Any:
    node = doc
    for part in path.split(".") if path else []:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and re.fullmatch(r"-?[0-9]+", part) and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _argv_list(value: Any, key: str) -> list[list[str]]:
    """``prepare``/``cleanup``: one argv or a list of argvs."""
    if value is None or value == []:
        return []
    if isinstance(value, (list, tuple)) and all(isinstance(a, (str, int, float)) for a in value):
        return [[str(a) for a in value]]
    if isinstance(value, (list, tuple)) and all(isinstance(c, (list, tuple)) and c for c in value):
        return [[str(a) for a in c] for c in value]
    raise ConfigError(key, "must be an argv list like ['prog', '--flag'] or a list of them (no shell strings)")


class CommandTarget(Target):
    """Runs a declared command line per window and parses its metrics as declared."""

    def __init__(
        self,
        *,
        argv: Sequence[str],
        metrics: Mapping[str, Mapping[str, Any]],
        prepare: Any = None,
        cleanup: Any = None,
        timeout_s: Optional[float] = None,
        env: Optional[Mapping[str, Any]] = None,
        cwd: Optional[str] = None,
        ok_returncodes: Sequence[int] = (0,),
        package: Optional[str] = None,
        results_dir: str | os.PathLike[str] | None = None,
        pin_to_cores: str | Sequence[int] | None = None,
        objective: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(results_dir=results_dir, pin_to_cores=pin_to_cores, objective=objective)
        require("target.argv",
                not isinstance(argv, str) and argv and all(isinstance(a, (str, int, float)) for a in argv),
                "must be a non-empty list like ['prog', '--flag', '{duration}'] (no shell)")
        self.argv = [str(a) for a in argv]
        self.prepare_argvs = _argv_list(prepare, "target.prepare")
        self.cleanup_argvs = _argv_list(cleanup, "target.cleanup")
        for key, argvs in (("target.prepare", self.prepare_argvs), ("target.cleanup", self.cleanup_argvs)):
            for arg in (a for argv_ in argvs for a in argv_):
                used = next((m.group(1) for m in _PLACEHOLDER.finditer(arg) if m.group(1) in WINDOW_PLACEHOLDERS), None)
                require(key, used is None, f"{{{used}}} exists only per window; use {{results_dir}} or {{python}}")
        require("target.metrics", isinstance(metrics, Mapping) and metrics,
                "declare at least one metric, e.g. throughput: {regex: 'rate: ([0-9.]+)'}")
        self.rules: dict[str, MetricRule] = {}
        for name, spec in metrics.items():
            require(f"target.metrics.{name}",
                    re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", str(name)) and not str(name).startswith("system."),
                    "metric names are identifiers like throughput or latency_p99")
            try:
                spec = dict(spec or {})
            except (TypeError, ValueError):
                raise ConfigError(f"target.metrics.{name}", "must be a mapping with regex or json") from None
            self.rules[str(name)] = parsed(f"target.metrics.{name}", MetricRule, spec)
        require("target.timeout_s", timeout_s is None or not float(timeout_s) <= 0,
                f"must be > 0 or null, got {timeout_s}")
        self.timeout_s = float(timeout_s) if timeout_s is not None else None
        require("target.env", env is None or isinstance(env, Mapping),
                "must be a mapping of NAME: value")
        self.env = {str(k): str(v) for k, v in (env or {}).items()}
        self.cwd = cwd
        try:
            self.ok_returncodes = {int(c) for c in ok_returncodes}
        except (TypeError, ValueError):
            raise ConfigError("target.ok_returncodes",
                              f"must be a list of exit codes, got {ok_returncodes!r}") from None
        self.package = package
        if not objective:
            self.default_objective = self._guess_objective()
        self.child: Optional[ChildProcess] = None

    def _guess_objective(self) -> tuple[str, str]:
        """``throughput`` when declared, else the first metric (minimised when it is a cost)."""
        name = "throughput" if "throughput" in self.rules else next(iter(self.rules))
        return name, default_goal(name)

    # -- command lines ------------------------------------------------------------------------
    def placeholders(self, window: Optional[int] = None, duration: Optional[float] = None,
                     output_dir: Optional[Path] = None) -> dict[str, str]:
        values = {"python": sys.executable}
        if self._results_dir is not None:
            values["results_dir"] = str(self.results_dir)
        if duration is not None:
            values.update(duration=f"{duration:g}", duration_int=str(max(1, math.ceil(duration))))
        if window is not None:
            values["window"] = str(window)
        if output_dir is not None:
            values["output_dir"] = str(output_dir)
        return values

    def command(self, argv: Sequence[str], values: Mapping[str, str]) -> list[str]:
        """``argv`` with placeholders filled, the program resolved on PATH, taskset first when pinned."""
        args = [substitute(a, values) for a in argv]
        program = args[0]
        if os.sep not in program:
            found = shutil.which(program)
            if found is None:
                hint = (f"install it with `apt-get install {self.package}`" if self.package
                        else "is it installed and on PATH?")
                raise TargetError(f"`{program}` was not found on PATH; {hint}")
            args[0] = found
        return self._wrap_with_taskset(args)

    def _workdir(self, values: Mapping[str, str]) -> Path:
        path = Path(substitute(self.cwd, values)) if self.cwd else self.results_dir
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _run(self, argv: Sequence[str], values: Mapping[str, str], out_dir: Path, timeout_s: float,
             what: str) -> Completed:
        env = {k: substitute(v, values) for k, v in self.env.items()}

        def started(child: ChildProcess) -> None:
            self.child = child

        try:
            done = run_command(self.command(argv, values), timeout_s=timeout_s, cwd=self._workdir(values),
                               env=env or None, stdout=out_dir / STDOUT, stderr=out_dir / STDERR, on_start=started)
        finally:
            self.child = None
        done.save(out_dir / "command.json")
        if done.timed_out or done.returncode not in self.ok_returncodes:
            raise TargetError(f"{what} failed: {done.describe_failure()}")
        return done

    # -- the contract -------------------------------------------------------------------------
    def pre_execute(self) -> bool:
        values = self.placeholders()
        self.command(self.argv, {**values, **self.placeholders(0, 1.0, self.results_dir)})  # binary check
        for i, argv in enumerate(self.prepare_argvs):
            out_dir = self.results_dir / "prepare" / str(i)
            out_dir.mkdir(parents=True, exist_ok=True)
            self._run(argv, values, out_dir, self.timeout_s or 3600, f"prepare command {i}")
        return True

    def execute_window(self, window_number: int, duration: float) -> BenchmarkMetrics:
        out_dir = self._window_output_dir(window_number)
        values = self.placeholders(window_number, duration, out_dir)
        timeout = self.timeout_s or max(2 * duration, duration + 30)
        self._run(self.argv, values, out_dir, timeout, "the benchmark command")
        return self.parse_results(out_dir)

    def _source_text(self, source: str, output_dir: Path) -> Optional[str]:
        if source == "stdout":
            path = output_dir / STDOUT
        elif source == "stderr":
            path = output_dir / STDERR
        else:
            name = substitute(source[5:], {**self.placeholders(), "output_dir": str(output_dir)})
            path = output_dir / name
        try:
            return path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    def parse_results(self, output_dir: str | os.PathLike[str]) -> BenchmarkMetrics:
        out_dir = Path(output_dir)
        texts: dict[str, Optional[str]] = {}
        values: dict[str, Optional[float]] = {}
        for name, rule in self.rules.items():
            if rule.source not in texts:
                texts[rule.source] = self._source_text(rule.source, out_dir)
            text = texts[rule.source]
            values[name] = rule.extract(text) if text is not None else None
            if values[name] is None and rule.required:
                where = "missing" if text is None else "has no match"
                raise TargetError(f"required metric {name!r}: {rule.source} {where} in {out_dir}")
        if all(v is None for v in values.values()):
            raise TargetError(f"no declared metric found in the output in {out_dir} ({', '.join(texts)}); "
                              "check target.metrics against the command's output")
        core = {k: values[k] for k in CORE_METRICS if k in values}
        extra = {k: v for k, v in values.items() if k not in CORE_METRICS and v is not None}
        return BenchmarkMetrics(**core, extra_metrics=extra)

    def processes(self) -> list[int]:
        return [self.child.pid] if self.child is not None and self.child.alive else []

    def cleanup(self) -> None:
        if self.child is not None:
            self.child.stop(grace_s=2.0)
            self.child = None
        if self._results_dir is None:
            return
        values = self.placeholders()
        for i, argv in enumerate(self.cleanup_argvs):
            out_dir = self.results_dir / "cleanup" / str(i)
            out_dir.mkdir(parents=True, exist_ok=True)
            try:
                self._run(argv, values, out_dir, self.timeout_s or 600, f"cleanup command {i}")
            except TargetError as exc:
                log.warning("%s", exc)  # the other cleanup steps still run

    def describe(self) -> dict[str, Any]:
        return {"benchmark": Path(self.argv[0]).name, "metrics": ",".join(self.rules)}
